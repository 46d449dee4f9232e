"""The waitlist through the gateway API, across all services over real Kafka: a guest waits for a
full lodge, is offered the capacity a cancellation frees (held for them), and books it; offers
go by priority then age, an offer not taken in time (12 s in tests) passes to the next entry,
and nobody sees or takes another guest's entry."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest

from devstack.client import PlatformClient, booking_body, guest
from devstack.platform import Platform
from tests.e2e.test_booking_lifecycle import a_resource, far, nights_taken, until
from tests.support.db import fetch

pytestmark = pytest.mark.e2e


def join_body(rid: str, start: Any, nights: int = 2, **extra: Any) -> dict:
    return {
        "resource_id": rid,
        "check_in": start.isoformat(),
        "check_out": (start + timedelta(nights)).isoformat(),
        "party": {"adults": 2},
        "contact": guest(7),
        **extra,
    }


def entry(client: PlatformClient, entry_id: str) -> dict:
    r = client.http.get(f"{client.urls['booking']}/api/v1/waitlist/{entry_id}")
    assert r.status_code == 200, r.text
    return r.json()


def becomes(client: PlatformClient, entry_id: str, status: str, timeout: float = 45) -> dict:
    until(lambda: entry(client, entry_id)["status"] == status, timeout=timeout)
    return entry(client, entry_id)


def waitlist_events(platform: Platform, entry_id: str) -> list[str]:
    rows = fetch(
        platform.database_urls["booking"],
        "SELECT ce_type FROM outbox WHERE key = $1 AND topic = 'booking.events' ORDER BY id",
        entry_id,
    )
    return [r["ce_type"].removeprefix("booking.waitlist_").removesuffix(".v1") for r in rows]


def a_guest(platform: Platform, client: PlatformClient, name: str) -> PlatformClient:
    return PlatformClient(client.urls, token=platform.token(roles=("guest",), subject=name))


def test_a_guest_waits_for_a_full_lodge_is_offered_the_freed_nights_and_books_them(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client, capacity=1)
    start = far(200)
    taken = client.book(booking_body(rid, start, nights=2), wait=20).json()
    assert taken["status"] == "confirmed"
    waiter = a_guest(platform, client, f"waiter-{uuid.uuid4().hex[:6]}")
    try:
        joined = waiter.http.post(
            f"{client.urls['booking']}/api/v1/waitlist", json=join_body(rid, start)
        )
        assert joined.status_code == 201, joined.text
        wid = joined.json()["id"]
        assert joined.headers["Location"].endswith(wid)
        # Full: the immediate try is refused and the entry keeps waiting.
        time.sleep(2)
        assert entry(waiter, wid)["status"] == "waiting"

        client.http.post(f"{client.urls['booking']}/api/v1/bookings/{taken['id']}/cancel")
        offered = becomes(waiter, wid, "offered")
        assert offered["hold_id"] and offered["offer_expires_at"]
        assert nights_taken(client, rid, start, 2) == [1, 1]  # held for the waiting guest
        # Another walk-in cannot take the held nights.
        walk_in = client.book(booking_body(rid, start, nights=2, n=3), wait=20).json()
        assert walk_in["status"] == "rejected"

        accepted = waiter.http.post(
            f"{client.urls['booking']}/api/v1/waitlist/{wid}/accept",
            json={"payment_method": "pm_card_visa"},
        )
        assert accepted.status_code == 202, accepted.text
        booking = accepted.json()
        assert (
            booking["hold_id"] == offered["hold_id"]
            and booking["guest_id"] == entry(waiter, wid)["guest_id"]
        )
        done = waiter.wait_terminal(booking["id"])
        assert done["status"] == "confirmed" and done["reservation_id"] == offered["hold_id"]
        assert entry(waiter, wid)["status"] == "accepted"
        assert entry(waiter, wid)["booking_id"] == booking["id"]
        assert nights_taken(client, rid, start, 2) == [1, 1]
        assert waitlist_events(platform, wid) == ["offered", "offer_accepted"]
        # Accepting twice books nothing more.
        again = waiter.http.post(
            f"{client.urls['booking']}/api/v1/waitlist/{wid}/accept",
            json={"payment_method": "pm_card_visa"},
        )
        assert again.status_code == 409 and again.json()["booking_id"] == booking["id"]
    finally:
        waiter.close()


def test_offers_go_by_priority_then_age_and_an_unanswered_offer_passes_to_the_next(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client, capacity=1)
    start = far(210)
    taken = client.book(booking_body(rid, start, nights=2), wait=20).json()
    base = f"{client.urls['booking']}/api/v1/waitlist"
    first = client.http.post(
        base, json=join_body(rid, start, contact={**guest(1), "id": "g-early"})
    )
    vip = client.http.post(
        base, json=join_body(rid, start, priority=5, contact={**guest(2), "id": "g-vip"})
    )
    assert first.status_code == vip.status_code == 201
    first_id, vip_id = first.json()["id"], vip.json()["id"]
    listed = client.http.get(base, params={"resource_id": rid}).json()
    assert [e["id"] for e in listed] == [vip_id, first_id]  # queue order

    client.http.post(f"{client.urls['booking']}/api/v1/bookings/{taken['id']}/cancel")
    becomes(client, vip_id, "offered")
    assert entry(client, first_id)["status"] == "waiting"
    # The VIP never answers: after the offer window the next entry gets the nights.
    becomes(client, vip_id, "expired", timeout=60)
    becomes(client, first_id, "offered", timeout=60)
    assert waitlist_events(platform, vip_id) == ["offered", "offer_expired"]
    assert nights_taken(client, rid, start, 2) == [1, 1]
    # Giving up an offer frees the nights (nobody else waits).
    cancelled = client.http.post(f"{base}/{first_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    until(lambda: nights_taken(client, rid, start, 2) == [0, 0])
    assert nights_taken(client, rid, start, 2) == [0, 0]


def test_a_guest_sees_and_takes_only_their_own_entries_and_cannot_jump_the_queue(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client, capacity=1)
    start = far(220)
    client.book(booking_body(rid, start, nights=2), wait=20)
    base = f"{client.urls['booking']}/api/v1/waitlist"
    alice = a_guest(platform, client, f"alice-{uuid.uuid4().hex[:6]}")
    bob = a_guest(platform, client, f"bob-{uuid.uuid4().hex[:6]}")
    try:
        mine = alice.http.post(base, json=join_body(rid, start)).json()
        assert bob.http.get(f"{base}/{mine['id']}").status_code == 404
        assert bob.http.post(f"{base}/{mine['id']}/cancel").status_code == 404
        assert (
            bob.http.post(f"{base}/{mine['id']}/accept", json={"payment_method": "pm_card_visa"})
        ).status_code == 404
        assert [e["id"] for e in bob.http.get(base).json()] == []
        assert [e["id"] for e in alice.http.get(base).json()] == [mine["id"]]
        assert bob.http.post(base, json=join_body(rid, start, priority=9)).status_code == 403
        bad = bob.http.post(base, json=join_body(rid, start + timedelta(3), nights=0))
        assert bad.status_code == 422
        early = alice.http.post(
            f"{base}/{mine['id']}/accept", json={"payment_method": "pm_card_visa"}
        )
        assert early.status_code == 409  # nothing offered yet
        assert entry(alice, mine["id"])["status"] == "waiting"
    finally:
        alice.close()
        bob.close()
