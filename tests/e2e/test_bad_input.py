"""Bad input gets a clear RFC 9457 4xx, and nothing is written."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import httpx
import pytest

from devstack.client import PlatformClient, booking_body
from devstack.openapi import path_of
from devstack.platform import SERVICES, Platform
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


def test_an_id_past_its_bound_is_a_422_on_every_operation_that_takes_one(
    platform: Platform,
) -> None:
    """Every operation of the committed documents with an id in its path, called by an admin
    with an id one character past the bound: a 422 problem naming the path parameter, never a
    404 after a lookup or a 5xx."""
    token = platform.token(tenant=f"bounds-{uuid.uuid4().hex[:6]}", roles=("admin",))
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    probed, wrong = 0, []
    for service in SERVICES:
        doc = json.loads(path_of(service).read_text())
        for path, operations in doc["paths"].items():
            names = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
            if not names:
                continue
            filled = path
            for name in names:
                filled = filled.replace("{" + name + "}", "x" * 65)
            for method in operations:
                answer = httpx.request(
                    method.upper(),
                    platform.url(service) + filled,
                    params={"start": "2030-01-01", "end": "2030-01-08", "month": "2030-01"},
                    json={} if method in ("post", "put", "patch") else None,
                    headers=headers,
                    timeout=30,
                )
                probed += 1
                errors = answer.json().get("errors") or [] if answer.status_code == 422 else []
                too_long = {e["field"] for e in errors if e["code"] == "string_too_long"} >= {
                    f"path.{name}" for name in names
                }
                if not too_long:
                    wrong.append(
                        f"{method.upper()} {path}: {answer.status_code} {answer.text[:200]}"
                    )
    assert probed > 40 and not wrong, "\n".join(wrong)


def test_lists_strings_and_headers_past_their_bounds_are_422s_and_nothing_is_written(
    platform: Platform, client: PlatformClient
) -> None:
    token = platform.token(tenant=f"bounds-{uuid.uuid4().hex[:6]}", roles=("admin",))
    auth = {"Authorization": f"Bearer {token}"}
    inventory, notifier = platform.url("inventory"), platform.url("notifier")
    with httpx.Client(headers=auth, timeout=30) as http:
        made = http.post(
            f"{inventory}/api/v1/resources",
            json={"name": "Bounds", "capacity": 2, "timezone": "Europe/Lisbon"},
        ).json()
        rules = f"{inventory}/api/v1/resources/{made['id']}/rules"
        for weekdays in ([0, 1, 2, 3, 4, 5, 6, 0], [7], [-1]):
            assert_problem(
                http.put(rules, json={"check_in_weekdays": weekdays}), 422, "validation-error"
            )
        after = http.get(f"{inventory}/api/v1/resources/{made['id']}").json()
        assert after["rules"] == made["rules"], "the refused changes left the rules as they were"
        endpoints = f"{notifier}/api/v1/webhook-endpoints"
        before = http.get(endpoints).json()
        assert_problem(
            http.post(
                endpoints,
                json={"url": "https://hooks.example.com/b", "event_types": ["x" * 101]},
            ),
            422,
            "validation-error",
        )
        assert http.get(endpoints).json() == before, "nothing was registered"
        many = [("status", "confirmed")] * 20
        assert_problem(
            http.get(f"{platform.url('booking')}/api/v1/bookings", params=many),
            422,
            "validation-error",
        )
        assert_problem(
            http.get(f"{inventory}/api/v1/resources", params={"cursor": "c" * 65}),
            422,
            "validation-error",
        )
    answer = client.http.patch(
        f"{client.urls['booking']}/api/v1/bookings/{uuid.uuid4()}",
        json={"special_requests": "late arrival"},
        headers={"If-Match": '"' + "9" * 70 + '"'},
    )
    body = assert_problem(answer, 422, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["header.if-match"]
