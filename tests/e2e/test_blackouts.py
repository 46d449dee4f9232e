"""Blackouts per resource, venue and tenant: they refuse stays, and report what they cover."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from devstack.client import PlatformClient, booking_body
from devstack.platform import Platform
from tests.support.db import scalar

pytestmark = pytest.mark.e2e

# Far from every other test's dates: a tenant-wide blackout must not disturb them.
BASE = date(2031, 5, 4)


def a_resource(client: PlatformClient, venue: str | None = None) -> str:
    r = client.http.post(
        f"{client.urls['inventory']}/api/v1/resources",
        json={
            "name": f"Bo {uuid.uuid4().hex[:6]}",
            "capacity": 2,
            "timezone": "Europe/Lisbon",
            "venue_id": venue,
        },
    )
    assert r.status_code == 201, r.text
    client.create_rate_plan(r.json()["id"], "70.00", "EUR")
    return r.json()["id"]


def blackout(client: PlatformClient, **body):  # type: ignore[no-untyped-def]
    payload = {"kind": "maintenance", "reason": "roof", **body}
    for key in ("starts_on", "ends_on"):
        if isinstance(payload.get(key), date):
            payload[key] = payload[key].isoformat()
    return client.http.post(f"{client.urls['inventory']}/api/v1/blackouts", json=payload)


def check(client: PlatformClient, rid: str, start: date, nights: int) -> list[str]:
    r = client.http.post(
        f"{client.urls['inventory']}/api/v1/availability/check",
        json={
            "resource_id": rid,
            "check_in": start.isoformat(),
            "check_out": (start + timedelta(days=nights)).isoformat(),
            "party": {"adults": 1},
        },
    )
    return [f["rule"] for f in r.json()["failed_rules"]]


def test_a_blackout_over_existing_bookings_lists_them_and_refuses_new_ones(
    client: PlatformClient,
) -> None:
    rid = a_resource(client)
    booked = client.wait_terminal(client.book(booking_body(rid, BASE, nights=3)).json()["id"])
    assert booked["status"] == "confirmed"
    created = blackout(
        client,
        scope="resource",
        resource_id=rid,
        starts_on=BASE + timedelta(days=1),
        ends_on=BASE + timedelta(days=2),
    )
    assert created.status_code == 201, created.text
    affected = created.json()["affected_claims"]
    assert [a["booking_id"] for a in affected] == [booked["id"]]
    assert check(client, rid, BASE + timedelta(days=1), 1) == ["BlackedOut"]
    assert check(client, rid, BASE + timedelta(days=2), 1) == []
    refused = client.wait_terminal(client.book(booking_body(rid, BASE, nights=2)).json()["id"])
    assert (refused["status"], refused["reason"], refused["reason_detail"]) == (
        "rejected",
        "not_bookable",
        "blacked_out",
    )


def test_venue_and_tenant_blackouts_reach_every_resource_they_cover(client: PlatformClient) -> None:
    venue = f"venue-{uuid.uuid4().hex[:6]}"
    inside, outside = a_resource(client, venue), a_resource(client)
    day = BASE + timedelta(days=20)
    assert (
        blackout(
            client,
            scope="venue",
            venue_id=venue,
            kind="weather",
            starts_on=day,
            ends_on=day + timedelta(days=1),
        ).status_code
        == 201
    )
    assert check(client, inside, day, 1) == ["BlackedOut"]
    assert check(client, outside, day, 1) == []
    later = day + timedelta(days=10)
    tenant = blackout(
        client, scope="tenant", kind="holiday", starts_on=later, ends_on=later + timedelta(days=1)
    )
    assert tenant.status_code == 201
    assert check(client, outside, later, 1) == ["BlackedOut"]
    assert (
        client.http.delete(
            f"{client.urls['inventory']}/api/v1/blackouts/{tenant.json()['blackout']['id']}"
        ).status_code
        == 204
    )
    assert check(client, outside, later, 1) == []


def test_malformed_blackouts_are_422_and_nothing_is_written(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client)
    before = scalar(platform.database_urls["inventory"], "SELECT count(*) FROM blackouts")
    for bad in (
        {"scope": "resource", "resource_id": rid, "starts_on": BASE, "ends_on": BASE},  # empty
        {
            "scope": "resource",
            "resource_id": rid,
            "starts_on": BASE,
            "ends_on": BASE - timedelta(days=1),
        },
        {
            "scope": "resource",
            "starts_on": BASE,
            "ends_on": BASE + timedelta(days=1),
        },  # no resource
        {
            "scope": "tenant",
            "venue_id": "v",
            "starts_on": BASE,
            "ends_on": BASE + timedelta(days=1),
        },
        {
            "scope": "resource",
            "resource_id": str(uuid.uuid4()),
            "starts_on": BASE,
            "ends_on": BASE + timedelta(days=1),
        },
        {
            "scope": "resource",
            "resource_id": rid,
            "kind": "aliens",
            "starts_on": BASE,
            "ends_on": BASE + timedelta(days=1),
        },
        {
            "scope": "resource",
            "resource_id": rid,
            "starts_on": date(2020, 1, 1),
            "ends_on": date(2020, 1, 2),
        },
    ):
        r = blackout(client, **bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert scalar(platform.database_urls["inventory"], "SELECT count(*) FROM blackouts") == before
