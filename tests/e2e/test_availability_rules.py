"""Availability rules through the inventory API and through the booking saga."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from devstack.client import PlatformClient, booking_body
from devstack.platform import Platform
from tests.support.db import scalar

pytestmark = pytest.mark.e2e


def next_weekday(start: date, weekday: int) -> date:
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def resource_with(client: PlatformClient, capacity: int = 1, **rules) -> dict:  # type: ignore[no-untyped-def]
    r = client.http.post(
        f"{client.urls['inventory']}/api/v1/resources",
        json={
            "name": f"Rules {uuid.uuid4().hex[:6]}",
            "capacity": capacity,
            "timezone": "Europe/Lisbon",
            "rules": rules,
        },
    )
    assert r.status_code == 201, r.text
    client.create_rate_plan(r.json()["id"], "100.00", "EUR")
    return r.json()


def check(
    client: PlatformClient, resource_id: str, check_in: date, nights: int, adults: int = 2
) -> dict:
    r = client.http.post(
        f"{client.urls['inventory']}/api/v1/availability/check",
        json={
            "resource_id": resource_id,
            "check_in": check_in.isoformat(),
            "check_out": (check_in + timedelta(days=nights)).isoformat(),
            "party": {"adults": adults},
        },
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_rules_are_stored_with_defaults_and_returned(client: PlatformClient) -> None:
    resource = resource_with(client, min_stay_nights=3, check_in_weekdays=[5], buffer_days=1)
    rules = client.http.get(f"{client.urls['inventory']}/api/v1/resources/{resource['id']}").json()[
        "rules"
    ]
    assert rules["min_stay_nights"] == 3 and rules["check_in_weekdays"] == [5]
    assert (
        rules["buffer_days"] == 1 and rules["min_party"] == 1 and rules["check_in_time"] == "15:00"
    )
    updated = client.http.put(
        f"{client.urls['inventory']}/api/v1/resources/{resource['id']}/rules",
        json={"min_stay_nights": 2, "max_party": 4},
    )
    assert updated.status_code == 200
    assert updated.json()["rules"]["min_stay_nights"] == 2
    assert updated.json()["rules"]["check_in_weekdays"] is None


def test_contradictory_rules_are_422_and_nothing_is_written(
    platform: Platform, client: PlatformClient
) -> None:
    before = scalar(platform.database_urls["inventory"], "SELECT count(*) FROM resources")
    for bad in (
        {"min_stay_nights": 5, "max_stay_nights": 2},
        {"check_in_weekdays": [9]},
        {"min_party": 0},
        {"check_out_weekdays": []},
        {"surprise": 1},
    ):
        r = client.http.post(
            f"{client.urls['inventory']}/api/v1/resources",
            json={"name": "x", "capacity": 1, "timezone": "Europe/Lisbon", "rules": bad},
        )
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert scalar(platform.database_urls["inventory"], "SELECT count(*) FROM resources") == before
    resource = resource_with(client)
    r = client.http.put(
        f"{client.urls['inventory']}/api/v1/resources/{resource['id']}/rules",
        json={"min_party": 3, "max_party": 2},
    )
    assert r.status_code == 422 and r.json()["type"].endswith("/invalid-rules")
    stored = client.http.get(f"{client.urls['inventory']}/api/v1/resources/{resource['id']}").json()
    assert stored["rules"]["max_party"] is None


def test_the_check_names_every_failed_rule(client: PlatformClient) -> None:
    resource = resource_with(
        client, min_stay_nights=7, check_in_weekdays=[5], check_out_weekdays=[5], max_party=4
    )
    saturday = next_weekday(date.today() + timedelta(days=60), 5)
    assert check(client, resource["id"], saturday, 7)["available"] is True
    result = check(client, resource["id"], saturday + timedelta(days=1), 2, adults=6)
    assert result["available"] is False
    assert sorted(f["rule"] for f in result["failed_rules"]) == [
        "ChangeoverDayNotAllowed",
        "ChangeoverDayNotAllowed",
        "MinimumStayNotMet",
        "PartyTooLarge",
    ]


def test_the_saga_rejects_a_stay_the_rules_refuse_without_touching_capacity(
    platform: Platform, client: PlatformClient
) -> None:
    resource = resource_with(client, min_stay_nights=3)
    start = date.today() + timedelta(days=70)
    booking = client.wait_terminal(
        client.book(booking_body(resource["id"], start, nights=2)).json()["id"]
    )
    assert (booking["status"], booking["reason"], booking["reason_detail"]) == (
        "rejected",
        "not_bookable",
        "minimum_stay_not_met",
    )
    assert (
        scalar(
            platform.database_urls["inventory"],
            "SELECT count(*) FROM reservations WHERE booking_id = $1",
            booking["id"],
        )
        == 0
    )
    assert (
        scalar(
            platform.database_urls["payment"],
            "SELECT count(*) FROM payments WHERE booking_id = $1",
            booking["id"],
        )
        == 0
    )


def test_buffer_days_keep_both_ends_of_a_stay_free_and_are_given_back(
    client: PlatformClient,
) -> None:
    resource = resource_with(client, buffer_days=1)
    rid = resource["id"]
    start = date.today() + timedelta(days=80)  # the stay: start .. start+2
    booked = client.wait_terminal(client.book(booking_body(rid, start, nights=2)).json()["id"])
    assert booked["status"] == "confirmed"
    # After: the check-out night is the buffer; the day after is free.
    assert (
        check(client, rid, start + timedelta(days=2), 1)["failed_rules"][0]["rule"]
        == "InsufficientCapacity"
    )
    assert check(client, rid, start + timedelta(days=3), 1)["available"] is True
    # Before: a stay ending on the check-in day would put its buffer on the first night.
    assert check(client, rid, start - timedelta(days=2), 2)["available"] is False
    assert check(client, rid, start - timedelta(days=3), 2)["available"] is True
    # A declined booking gives back its nights and its buffer.
    later = start + timedelta(days=20)
    declined = client.wait_terminal(
        client.book(booking_body(rid, later, nights=2, pm="pm_card_declined")).json()["id"]
    )
    assert declined["status"] == "rejected"
    nights = client.availability(rid, later, later + timedelta(days=3))
    assert [n["reserved"] for n in nights] == [0, 0, 0]


def test_capacity_cannot_shrink_below_what_is_claimed(
    platform: Platform, client: PlatformClient
) -> None:
    resource = resource_with(client, capacity=3)
    rid = resource["id"]
    start = date.today() + timedelta(days=90)
    for i in range(2):
        b = client.wait_terminal(client.book(booking_body(rid, start, nights=2, n=i)).json()["id"])
        assert b["status"] == "confirmed"
    url = f"{client.urls['inventory']}/api/v1/resources/{rid}"
    refused = client.http.patch(url, json={"capacity": 1})
    assert refused.status_code == 409 and refused.json()["type"].endswith("/capacity-below-claims")
    assert [n["claimed"] for n in refused.json()["nights"]] == [2, 2]
    assert client.http.get(url).json()["capacity"] == 3
    assert [n["capacity"] for n in client.availability(rid, start, start + timedelta(days=2))] == [
        3,
        3,
    ]
    assert client.http.patch(url, json={"capacity": 2}).json()["capacity"] == 2
    third = client.wait_terminal(client.book(booking_body(rid, start, nights=2, n=3)).json()["id"])
    assert third["status"] == "rejected"  # the two units are taken
    assert client.http.patch(url, json={}).status_code == 422
    assert client.http.patch(url, json={"capacity": 0}).status_code == 422


def test_an_inactive_resource_cannot_be_booked(client: PlatformClient) -> None:
    rid = resource_with(client)["id"]
    client.http.patch(f"{client.urls['inventory']}/api/v1/resources/{rid}", json={"active": False})
    b = client.wait_terminal(
        client.book(booking_body(rid, date.today() + timedelta(days=95))).json()["id"]
    )
    assert (b["status"], b["reason"], b["reason_detail"]) == (
        "rejected",
        "not_bookable",
        "resource_inactive",
    )


def test_resource_kinds_are_the_known_ones(client: PlatformClient) -> None:
    url = f"{client.urls['inventory']}/api/v1/resources"
    base = {"name": "k", "capacity": 1, "timezone": "Europe/Lisbon"}
    assert client.http.post(url, json={**base, "kind": "treatment_room"}).status_code == 201
    refused = client.http.post(url, json={**base, "kind": "spaceship"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "kind"


def test_the_reservation_reply_carries_the_claim_and_its_expiry(
    platform: Platform, client: PlatformClient
) -> None:
    import json

    from tests.support.db import fetch

    rid = resource_with(client)["id"]
    booking = client.wait_terminal(
        client.book(booking_body(rid, date.today() + timedelta(days=97))).json()["id"]
    )
    replies = fetch(
        platform.database_urls["inventory"],
        "SELECT payload FROM outbox WHERE key = $1 AND ce_type = 'inventory.CapacityReserved.v1'",
        booking["id"],
    )
    reply = json.loads(replies[0]["payload"])
    assert reply["reservation_id"] == booking["reservation_id"]
    assert reply["resource_id"] == rid and reply["expires_at"]
