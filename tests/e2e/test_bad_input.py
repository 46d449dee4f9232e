"""Bad input gets a clear RFC 9457 4xx, and nothing is written."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from devstack.client import PlatformClient, booking_body
from devstack.platform import Platform
from tests.support.db import scalar

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def resource_id(client: PlatformClient) -> str:
    resource = client.create_resource(f"Cabin {uuid.uuid4().hex[:6]}", capacity=1)
    client.create_rate_plan(resource["id"], "99.00", "EUR")
    return resource["id"]


def written(platform: Platform) -> tuple[int, int, int]:
    url = platform.database_urls["booking"]
    return (
        scalar(url, "SELECT count(*) FROM bookings"),
        scalar(url, "SELECT count(*) FROM outbox"),
        scalar(url, "SELECT count(*) FROM idempotency_keys"),
    )


def post(client: PlatformClient, content: bytes | str, key: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "application/json", "Idempotency-Key": key or f"bad-{uuid.uuid4()}"}
    return client.http.post(
        f"{client.urls['booking']}/api/v1/bookings", content=content, headers=headers
    )


def assert_problem(response, status: int, type_suffix: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"].endswith(type_suffix)
    return body


def test_malformed_json_is_a_400_problem(platform: Platform, client: PlatformClient) -> None:
    before = written(platform)
    assert_problem(post(client, b'{"resource_id": "x", '), 400, "/malformed-json")
    assert_problem(post(client, b"\xff\xfe"), 400, "/malformed-json")
    assert written(platform) == before


def test_unknown_resource_is_a_422_problem(platform: Platform, client: PlatformClient) -> None:
    before = written(platform)
    body = booking_body(str(uuid.uuid4()), date.today() + timedelta(days=10))
    assert_problem(client.book(body, key=f"k-{uuid.uuid4()}"), 422, "/unknown-resource")
    assert_problem(client.book({**body, "resource_id": "not-a-uuid"}), 422, "/unknown-resource")
    assert written(platform) == before


def test_check_out_before_check_in_is_a_422_problem(
    platform: Platform, client: PlatformClient, resource_id: str
) -> None:
    before = written(platform)
    body = booking_body(resource_id, date.today() + timedelta(days=10))
    body["check_out"], body["check_in"] = body["check_in"], body["check_out"]
    problem = assert_problem(client.book(body), 422, "/validation-error")
    assert any("check_out" in (e["message"] or "") for e in problem["errors"])
    same_day = {**body, "check_out": body["check_out"], "check_in": body["check_out"]}
    assert_problem(client.book(same_day), 422, "/validation-error")
    assert written(platform) == before


def test_missing_guest_phone_is_a_422_problem(
    platform: Platform, client: PlatformClient, resource_id: str
) -> None:
    before = written(platform)
    body = booking_body(resource_id, date.today() + timedelta(days=10))
    del body["guest"]["phone"]
    problem = assert_problem(client.book(body), 422, "/validation-error")
    assert [e["field"] for e in problem["errors"]] == ["guest.phone"]
    assert written(platform) == before


def test_wrong_types_and_unknown_fields_are_422_problems(
    platform: Platform, client: PlatformClient, resource_id: str
) -> None:
    before = written(platform)
    body = booking_body(resource_id, date.today() + timedelta(days=10))
    for broken in (
        {**body, "party": {"adults": 0}},
        {**body, "party": {"adults": "two"}},
        {**body, "check_in": "tomorrow"},
        {**body, "payment_method": "cash"},
        {**body, "surprise": True},
        [body],
    ):
        assert_problem(client.book(broken), 422, "/validation-error")  # type: ignore[arg-type]
    assert written(platform) == before


def test_an_unknown_booking_is_a_404_problem(client: PlatformClient) -> None:
    for booking_id in (str(uuid.uuid4()), "nope"):
        response = client.http.get(f"{client.urls['booking']}/api/v1/bookings/{booking_id}")
        assert_problem(response, 404, "/booking-not-found")


def test_a_bad_cursor_is_a_400_problem(client: PlatformClient) -> None:
    for service, path in (("booking", "/api/v1/bookings"), ("inventory", "/api/v1/resources")):
        response = client.http.get(
            f"{client.urls[service]}{path}",
            params={"cursor": "nope"},
        )
        assert_problem(response, 400, "/bad-cursor")


def test_a_nul_character_anywhere_is_a_422_problem_not_a_database_error(
    platform: Platform, client: PlatformClient, resource_id: str
) -> None:
    """Postgres cannot store U+0000: in a query, a path or a JSON body it is refused up front."""
    before = written(platform)
    body = booking_body(resource_id, date.today() + timedelta(days=30))
    body["guest"]["name"] = "Ana\u0000"
    assert_problem(client.book(body), 422, "/invalid-character")
    listing = client.http.get(
        f"{client.urls['booking']}/api/v1/bookings", params={"guest_id": "g\x00"}
    )
    assert_problem(listing, 422, "/invalid-character")
    path = client.http.get(f"{client.urls['booking']}/api/v1/bookings/reference/BK%00")
    assert_problem(path, 422, "/invalid-character")
    made = client.http.post(
        f"{client.urls['inventory']}/api/v1/resources",
        json={"name": "Loft\u0000", "booking_mode": "nightly", "capacity": 1, "timezone": "UTC"},
    )
    assert_problem(made, 422, "/invalid-character")
    assert written(platform) == before
    # An escaped backslash before "u0000" is ordinary text, not a NUL.
    body["guest"]["name"] = "Ana \\u0000"
    assert client.book(body).status_code == 202


def test_a_body_past_the_cap_is_a_413_before_it_is_read_or_the_caller_authenticated(
    platform: Platform, client: PlatformClient
) -> None:
    """256 KiB by default (``<SERVICE>_MAX_BODY_BYTES``): a declared Content-Length past it, or
    a body streamed without one that passes it, is refused with 413, with or without a token,
    on every service; nothing is written."""
    import httpx

    resources = platform.database_urls["inventory"]
    before = scalar(resources, "SELECT count(*) FROM resources")
    big = b'{"name": "' + b"x" * (300 * 1024) + b'"}'

    def chunks():  # type: ignore[no-untyped-def]
        for i in range(0, len(big), 16 * 1024):
            yield big[i : i + 16 * 1024]

    with httpx.Client(timeout=30) as anonymous:
        for service, path in (("booking", "bookings"), ("inventory", "resources")):
            url = f"{client.urls[service]}/api/v1/{path}"
            for http in (anonymous, client.http):
                declared = http.post(url, content=big, headers={"content-type": "application/json"})
                assert_problem(declared, 413, "/body-too-large")
                streamed = http.post(
                    url, content=chunks(), headers={"content-type": "application/json"}
                )
                assert_problem(streamed, 413, "/body-too-large")
    assert scalar(resources, "SELECT count(*) FROM resources") == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "ana@"),
        ("email", "ana@mail.test"),
        ("phone", "912 345 678"),
        ("phone", "+351 12"),
    ],
)
def test_a_guest_email_or_phone_that_is_not_one_is_a_422(
    platform: Platform, client: PlatformClient, resource_id: str, field: str, value: str
) -> None:
    # Bookings only: an earlier test's saga may still be writing outbox rows.
    url = platform.database_urls["booking"]
    before = scalar(url, "SELECT count(*) FROM bookings")
    body = booking_body(resource_id, date.today() + timedelta(days=31))
    body["guest"][field] = value
    problem = assert_problem(client.book(body), 422, "/validation-error")
    assert [e["field"] for e in problem["errors"]] == [f"guest.{field}"]
    assert scalar(url, "SELECT count(*) FROM bookings") == before


def test_a_guest_phone_is_kept_in_e164(client: PlatformClient, resource_id: str) -> None:
    body = booking_body(resource_id, date.today() + timedelta(days=32))
    body["guest"]["phone"] = "+351 (91) 234-5678"
    made = client.book(body)
    assert made.status_code == 202, made.text
    assert client.booking(made.json()["id"])["guest"]["phone"] == "+351912345678"
