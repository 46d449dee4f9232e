"""Pricing over REST and in the saga: plans, quotes, policy snapshots, refunds, bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.client import PlatformClient, booking_body
from devstack.platform import Platform
from tests.support.db import fetch, scalar

pytestmark = pytest.mark.e2e

START = date(2027, 3, 1)  # a Monday; quotes may be taken for any date


def _resource_id(client: PlatformClient) -> str:
    """A resource of the client's tenant: plans are only made for the tenant's own."""
    return str(client.create_resource(f"Priced {uuid.uuid4().hex[:6]}", capacity=1)["id"])


def _plan(client: PlatformClient, **doc: Any) -> dict[str, Any]:
    body = {"resource_id": _resource_id(client), "currency": "EUR", "base_price": "100.00", **doc}
    r = client.http.post(f"{client.urls['pricing']}/api/v1/rate-plans", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _quote(client: PlatformClient, **request: Any) -> httpx.Response:
    return client.http.post(f"{client.urls['pricing']}/api/v1/quotes", json=request)


def test_a_per_person_tour_for_two_adults_a_child_and_an_infant(client: PlatformClient) -> None:
    plan = _plan(client, basis="per_person", base_price="50.00")
    starts = datetime(2027, 3, 2, 9, tzinfo=UTC)
    q = _quote(
        client,
        resource_id=plan["resource_id"],
        party={"adults": 2, "children": 1, "infants": 1},
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(hours=3)).isoformat(),
        timezone="Europe/Lisbon",
    )
    assert q.status_code == 201, q.text
    body = q.json()
    assert [(ln["description"], ln["amount"]) for ln in body["lines"]] == [
        ("2 adults × 1 slot (base)", "100.00"),
        ("1 child × 1 slot (base, 70 %)", "35.00"),
        ("1 infant × 1 slot (base, 0 %)", "0.00"),
        ("VAT 10 % on 135.00", "13.50"),
    ]
    assert (body["subtotal"], body["taxes"], body["total"]) == ("135.00", "13.50", "148.50")
    assert body["valid_until"] and body["rate_plan"]["id"] == plan["id"]
    assert q.headers["Location"] == f"/api/v1/quotes/{body['id']}"


def test_a_ninety_minute_room_at_an_hourly_rate(client: PlatformClient) -> None:
    plan = _plan(client, basis="per_hour", base_price="40.00")
    starts = datetime(2027, 3, 2, 14, tzinfo=UTC)
    body = _quote(
        client,
        resource_id=plan["resource_id"],
        party={"adults": 4},
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(minutes=90)).isoformat(),
        timezone="UTC",
    ).json()
    assert body["lines"][0] | {"kind": "charge"} == {
        "kind": "charge",
        "description": "1.5 h (base)",
        "quantity": "1.5",
        "unit_price": "40.00",
        "amount": "60.00",
    }
    assert body["total"] == "66.00"


def test_refunds_use_the_policy_snapshot_of_the_quote_not_the_plan_of_today(
    client: PlatformClient,
) -> None:
    pricing = client.urls["pricing"]
    plan = _plan(client)
    stay = {"check_in": "2027-05-01", "check_out": "2027-05-03", "party": {"adults": 2}}
    old = _quote(client, resource_id=plan["resource_id"], **stay).json()
    assert old["total"] == "220.00"
    starts = datetime(2027, 5, 1, 15, tzinfo=UTC)

    def refund(quote_id: str, hours: int) -> dict[str, Any]:
        r = client.http.post(
            f"{pricing}/api/v1/quotes/{quote_id}/refund",
            json={
                "starts_at": starts.isoformat(),
                "at": (starts - timedelta(hours=hours)).isoformat(),
            },
        )
        assert r.status_code == 200, r.text
        return r.json()

    seeds = {48: ("100", "220.00"), 12: ("50", "110.00"), 2: ("0", "0.00")}
    for hours, (percent, amount) in seeds.items():
        got = refund(old["id"], hours)
        assert (got["refund_percent"], got["refundable"]) == (percent, amount), hours
    # A stricter policy from now on: the old quote keeps its terms, a new one gets the new terms.
    changed = client.http.put(
        f"{pricing}/api/v1/rate-plans/{plan['id']}",
        json={
            "currency": "EUR",
            "base_price": "100.00",
            "cancellation_policy": [
                {"hours_before": 72, "refund_percent": "100"},
                {"hours_before": 0, "refund_percent": "0"},
            ],
        },
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2
    assert refund(old["id"], 48)["refundable"] == "220.00"
    new = _quote(client, resource_id=plan["resource_id"], **stay).json()
    assert refund(new["id"], 48)["refundable"] == "0.00"
    partial = client.http.post(
        f"{pricing}/api/v1/quotes/{old['id']}/refund",
        json={
            "starts_at": starts.isoformat(),
            "at": (starts - timedelta(hours=12)).isoformat(),
            "paid": "100.00",
        },
    ).json()
    assert partial["refundable"] == "50.00"


def test_a_modification_quote_is_the_difference_to_charge_or_refund(client: PlatformClient) -> None:
    plan = _plan(client, weekend_price="150.00")
    base = {"resource_id": plan["resource_id"], "party": {"adults": 2}}
    old = _quote(client, check_in="2027-03-01", check_out="2027-03-03", **base).json()
    url = f"{client.urls['pricing']}/api/v1/quotes/{old['id']}/modification"
    longer = client.http.post(
        url, json={"check_in": "2027-03-01", "check_out": "2027-03-06", **base}
    )
    # Mon-Thu weekday 4 × 100 + Fri 150 = 550 + 10 % = 605.00 vs 220.00
    assert longer.status_code == 200, longer.text
    assert (longer.json()["difference"], longer.json()["action"]) == ("385.00", "charge")
    shorter = client.http.post(
        url, json={"check_in": "2027-03-01", "check_out": "2027-03-02", **base}
    )
    assert (shorter.json()["difference"], shorter.json()["action"]) == ("-110.00", "refund")


def test_bad_plans_and_requests_are_clear_422s_and_write_nothing(
    platform: Platform, client: PlatformClient
) -> None:
    pricing = client.urls["pricing"]
    db = platform.database_urls["pricing"]
    before = scalar(db, "SELECT count(*) FROM rate_plans")
    rid = _resource_id(client)
    bad_plans = [
        ({"currency": "XYZ", "base_price": "10.00"}, "unsupported-currency"),
        ({"currency": "EUR", "base_price": "-10.00"}, "validation-error"),
        ({"currency": "EUR", "base_price": 10.5}, "validation-error"),  # a float, never
        ({"currency": "EUR", "base_price": "10.005"}, "invalid-rate-plan"),
        ({"currency": "JPY", "base_price": "10.50"}, "invalid-rate-plan"),
        ({"currency": "EUR", "base_price": "0"}, "invalid-rate-plan"),
        (
            {"currency": "EUR", "base_price": "10.00", "fees": [{"name": "x", "amount": "-1"}]},
            "validation-error",
        ),
        (
            {"currency": "EUR", "base_price": "10.00", "taxes": [{"name": "t", "percent": "101"}]},
            "invalid-rate-plan",
        ),
        (
            {
                "currency": "EUR",
                "base_price": "10.00",
                "cancellation_policy": [
                    {"hours_before": 6, "refund_percent": "100"},
                    {"hours_before": 24, "refund_percent": "50"},
                ],
            },
            "invalid-rate-plan",
        ),
        ({"currency": "EUR", "base_price": "10.00", "surprise": 1}, "validation-error"),
    ]
    for doc, problem in bad_plans:
        r = client.http.post(f"{pricing}/api/v1/rate-plans", json={"resource_id": rid, **doc})
        assert r.status_code == 422, (doc, r.text)
        assert r.json()["type"].endswith(problem), (doc, r.json())
    both = client.http.post(
        f"{pricing}/api/v1/rate-plans",
        json={"resource_id": rid, "venue_id": "v", "currency": "EUR", "base_price": "1.00"},
    )
    assert both.status_code == 422
    assert scalar(db, "SELECT count(*) FROM rate_plans") == before
    quotes_before = scalar(db, "SELECT count(*) FROM quotes")
    stay = {"check_in": "2027-05-01", "check_out": "2027-05-03", "party": {"adults": 2}}
    assert (
        _quote(client, resource_id=str(uuid.uuid4()), **stay)
        .json()["type"]
        .endswith("no-rate-plan")
    )
    hourly = _plan(client, basis="per_hour", base_price="40.00")
    assert (
        _quote(client, resource_id=hourly["resource_id"], **stay)
        .json()["type"]
        .endswith("unpriceable-request")
    )
    assert (
        _quote(
            client,
            resource_id=hourly["resource_id"],
            party={"adults": 1},
            starts_at="2027-05-01T10:00:00",
            ends_at="2027-05-01T11:00:00",
            timezone="UTC",
        ).status_code
        == 422
    )  # naive times
    assert (
        _quote(
            client,
            resource_id=hourly["resource_id"],
            party={"adults": 1},
            starts_at="2027-05-01T10:00:00Z",
            ends_at="2027-05-01T11:00:00Z",
            timezone="Mars/Olympus",
        )
        .json()["type"]
        .endswith("unknown-timezone")
    )
    assert scalar(db, "SELECT count(*) FROM quotes") == quotes_before
    good = _quote(client, resource_id=_plan(client)["resource_id"], **stay).json()
    above = client.http.post(
        f"{pricing}/api/v1/quotes/{good['id']}/refund",
        json={"starts_at": "2027-05-01T15:00:00Z", "paid": "999.00"},
    )
    assert above.status_code == 422 and above.json()["type"].endswith("refund-above-paid")


def test_plans_and_quotes_are_tenant_scoped(platform: Platform, client: PlatformClient) -> None:
    pricing = client.urls["pricing"]
    plan = _plan(client)
    quote = _quote(
        client,
        resource_id=plan["resource_id"],
        check_in="2027-05-01",
        check_out="2027-05-02",
        party={"adults": 1},
    ).json()
    stranger = {"Authorization": f"Bearer {platform.token(tenant='elsewhere', roles=('admin',))}"}
    guest = {"Authorization": f"Bearer {platform.token(roles=('guest',))}"}
    with httpx.Client(base_url=f"{pricing}/api/v1", timeout=30) as http:
        assert http.get("/rate-plans").status_code == 401
        assert http.get(f"/rate-plans/{plan['id']}", headers=stranger).status_code == 404
        assert http.get(f"/quotes/{quote['id']}", headers=stranger).status_code == 404
        assert (
            http.post(
                "/quotes",
                headers=stranger,
                json={
                    "resource_id": plan["resource_id"],
                    "check_in": "2027-05-01",
                    "check_out": "2027-05-02",
                    "party": {"adults": 1},
                },
            )
            .json()["type"]
            .endswith("no-rate-plan")
        )
        assert (
            http.post(
                "/rate-plans",
                headers=guest,
                json={"resource_id": "r", "currency": "EUR", "base_price": "1.00"},
            ).status_code
            == 403
        )
        assert http.get(f"/quotes/{quote['id']}", headers=guest).status_code == 200


def test_the_saga_prices_with_the_plan_and_keeps_the_quote_with_its_policy(
    platform: Platform, client: PlatformClient
) -> None:
    resource = client.create_resource(f"Priced {uuid.uuid4().hex[:6]}", capacity=2)
    _plan(
        client,
        resource_id=resource["id"],
        basis="per_person",
        base_price="40.00",
        fees=[{"name": "Cleaning", "amount": "25.00"}],
    )
    start = date.today() + timedelta(days=200)
    body = booking_body(resource["id"], start, nights=2) | {
        "party": {"adults": 2, "children": 1, "infants": 0}
    }
    booking = client.wait_terminal(client.book(body).json()["id"])
    assert booking["status"] == "confirmed", booking
    # 2 adults × 2 nights × 40 + 1 child × 2 nights × 28 + 25 cleaning = 241, + 10 % = 265.10
    assert booking["total"] == {"amount": "265.10", "currency": "EUR"}
    [row] = fetch(
        platform.database_urls["pricing"],
        "SELECT id::text, total, doc FROM quotes WHERE booking_id = $1",
        booking["id"],
    )
    assert row["id"] == booking["quote_id"] and str(row["total"]) == "265.100000"
    import json

    doc = json.loads(row["doc"])
    assert doc["cancellation_policy"][0] == {"hours_before": 24, "refund_percent": "100"}
    assert sum(float(ln["amount"]) for ln in doc["lines"]) == pytest.approx(265.10)


def test_the_first_release_s_rate_plan_body_still_makes_a_per_night_plan_that_books(
    client: PlatformClient,
) -> None:
    """``{resource_id, currency, nightly_rate}``, as the first release published it: a per-night
    plan quoting nights × rate, answered with the fields it answered then (and today's), and a
    booking on it confirmed at that price. The richer form and the old one are exclusive."""
    resource = client.create_resource(f"Legacy {uuid.uuid4().hex[:6]}", capacity=1)
    url = f"{client.urls['pricing']}/api/v1/rate-plans"
    made = client.http.post(
        url, json={"resource_id": resource["id"], "currency": "EUR", "nightly_rate": "120.00"}
    )
    assert made.status_code == 201, made.text
    plan = made.json()
    assert (plan["resource_id"], plan["currency"], plan["nightly_rate"]) == (
        resource["id"],
        "EUR",
        "120.00",
    )
    assert plan["active"] is True and plan["id"] and plan["created_at"]
    assert plan["plan"]["basis"] == "per_night" and plan["plan"]["taxes"] == []
    fetched = client.http.get(f"{url}/{plan['id']}").json()
    assert fetched["nightly_rate"] == "120.00"

    start = date.today() + timedelta(days=210)
    booking = client.wait_terminal(
        client.book(booking_body(resource["id"], start, nights=3)).json()["id"]
    )
    assert booking["status"] == "confirmed", booking
    assert booking["total"] == {"amount": "360.00", "currency": "EUR"}  # 3 nights × 120.00

    for body, why in (
        ({"nightly_rate": "120.00", "base_price": "120.00"}, "not both"),
        ({"nightly_rate": "30.00", "basis": "per_hour"}, "per-night"),
        ({}, "base_price is required"),
    ):
        refused = client.http.post(
            url, json={"resource_id": resource["id"], "currency": "EUR", **body}
        )
        assert refused.status_code == 422, refused.text
        assert why in refused.text, refused.text
    # A plan of today's form answers nightly_rate only when it is per night.
    hourly = _plan(client, basis="per_hour", base_price="30.00")
    assert hourly["nightly_rate"] is None and hourly["currency"] == "EUR"
