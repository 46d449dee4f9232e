"""Modifying confirmed bookings through the gateway API, across all services as real processes
over real Kafka: a longer stay in a one-unit lodge (the nights it already holds are not fought
over), a shorter one (the difference refunded), a move into dates that are taken (nothing
changes), a party change and a move between slots of a tour, idempotent retries, and two racing
modifications of one booking (one wins, the other gets 412)."""

from __future__ import annotations

import concurrent.futures
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from devstack.client import PlatformClient, booking_body, guest
from devstack.platform import Platform
from tests.e2e.test_booking_lifecycle import a_resource, events, far, history, nights_taken, until
from tests.support.db import fetch

pytestmark = pytest.mark.e2e


def url(client: PlatformClient, booking_id: str, path: str = "") -> str:
    return f"{client.urls['booking']}/api/v1/bookings/{booking_id}{path}"


def modify(
    client: PlatformClient, booking_id: str, change: dict[str, Any], **headers: str
) -> httpx.Response:
    if "If-Match" not in headers:
        headers["If-Match"] = client.http.get(url(client, booking_id)).headers["ETag"]
    return client.http.post(url(client, booking_id, "/modify"), json=change, headers=headers)


def settled(client: PlatformClient, booking_id: str) -> dict:
    """The booking once its modification has an outcome (applied or failed)."""
    until(
        lambda: (
            (client.booking(booking_id)["modification"] or {}).get("status")
            in ("applied", "failed")
        ),
        timeout=60,
    )
    return client.booking(booking_id)


def payments(platform: Platform, booking_id: str) -> list[dict]:
    return fetch(
        platform.database_urls["payment"],
        "SELECT id::text, status, captured_amount, refunded_amount FROM payments "
        "WHERE booking_id = $1 ORDER BY created_at",
        booking_id,
    )


def amount(money: dict | None) -> Decimal:
    return Decimal(money["amount"]) if money else Decimal(0)


def test_a_longer_stay_in_a_one_unit_lodge_charges_the_new_price_and_refunds_the_old(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client, capacity=1)
    start = far(120)
    booking = client.book(booking_body(rid, start, nights=2), wait=20).json()
    assert booking["status"] == "confirmed"
    old_total = amount(booking["total"])

    # One more night: the two it holds are its own, so the one-unit lodge does not refuse it.
    accepted = modify(client, booking["id"], {"check_out": (start + timedelta(3)).isoformat()})
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["Location"].endswith(booking["id"])
    assert accepted.json()["modification"]["status"] == "in_progress"
    done = settled(client, booking["id"])
    assert done["modification"]["status"] == "applied", done["modification"]
    assert done["status"] == "confirmed" and done["check_out"] == (start + timedelta(3)).isoformat()
    new_total = amount(done["total"])
    assert new_total > old_total
    assert nights_taken(client, rid, start, 4) == [1, 1, 1, 0]
    # The new price was charged on a new payment and the old one refunded in full.
    old, new = payments(platform, booking["id"])
    assert (old["status"], old["refunded_amount"]) == ("captured", old_total)
    assert (new["status"], new["captured_amount"], new["refunded_amount"]) == (
        "captured",
        new_total,
        0,
    )
    assert done["payment_id"] == new["id"] and done["reservation_id"] != booking["reservation_id"]
    assert amount(done["paid"]) - amount(done["refunded"]) == new_total
    # No status changed; consumers are told once, by booking.updated.
    assert history(client, booking["id"]) == [(None, "pending"), ("pending", "confirmed")]
    assert events(platform, booking["id"]) == ["created", "confirmed", "updated"]
    audit = client.http.get(url(client, booking["id"], "/audit")).json()
    applied = next(e for e in audit if e["action"] == "modification_applied")
    assert applied["old"]["check_out"] == booking["check_out"]
    assert applied["new"]["check_out"] == done["check_out"]


def test_a_shorter_stay_refunds_the_difference_and_frees_the_night(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client, capacity=1)
    start = far(130)
    booking = client.book(booking_body(rid, start, nights=3), wait=20).json()
    old_total = amount(booking["total"])
    assert modify(
        client, booking["id"], {"check_out": (start + timedelta(2)).isoformat()}
    ).is_success
    done = settled(client, booking["id"])
    assert done["modification"]["status"] == "applied", done["modification"]
    new_total = amount(done["total"])
    assert nights_taken(client, rid, start, 3) == [1, 1, 0]
    [only] = payments(platform, booking["id"])  # no new payment: the difference went back
    assert only["refunded_amount"] == old_total - new_total
    assert done["payment_id"] == only["id"]
    assert amount(done["refunded"]) == old_total - new_total


def test_moving_into_taken_dates_fails_and_leaves_the_booking_exactly_as_it_was(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client, capacity=1)
    start = far(140)
    booking = client.book(booking_body(rid, start, nights=2), wait=20).json()
    taker = client.book(booking_body(rid, start + timedelta(5), nights=2, n=1), wait=20).json()
    assert taker["status"] == "confirmed"

    moved = {
        "check_in": (start + timedelta(4)).isoformat(),
        "check_out": (start + timedelta(6)).isoformat(),
    }
    assert modify(client, booking["id"], moved).status_code == 202
    done = settled(client, booking["id"])
    assert done["modification"]["status"] == "failed"
    assert done["modification"]["reason"] == "capacity_unavailable"
    same = ("check_in", "check_out", "reservation_id", "payment_id", "total", "paid", "refunded")
    assert {k: done[k] for k in same} == {k: booking[k] for k in same}
    assert nights_taken(client, rid, start, 7) == [1, 1, 0, 0, 0, 1, 1]
    assert [p["refunded_amount"] for p in payments(platform, booking["id"])] == [0]
    assert events(platform, booking["id"]) == ["created", "confirmed"]


def a_tour_with_two_slots(client: PlatformClient, seats: int) -> tuple[str, list[dict]]:
    inv = client.urls["inventory"]
    day = far(150)
    tour = client.http.post(
        f"{inv}/api/v1/resources",
        json={
            "name": f"Tour {uuid.uuid4().hex[:6]}",
            "booking_mode": "timeslot",
            "kind": "tour",
            "capacity": seats,
            "timezone": "Europe/Lisbon",
        },
    ).json()
    client.http.post(
        f"{client.urls['pricing']}/api/v1/rate-plans",
        json={
            "resource_id": tour["id"],
            "currency": "EUR",
            "base_price": "30.00",
            "basis": "per_person",
        },
    ).raise_for_status()
    client.http.post(
        f"{inv}/api/v1/resources/{tour['id']}/schedules",
        json={
            "recurrence": "daily",
            "valid_from": day.isoformat(),
            "work_start": "10:00",
            "work_end": "14:00",
            "slot_minutes": 120,
        },
    ).raise_for_status()
    span = {"start": day.isoformat(), "end": (day + timedelta(1)).isoformat()}
    client.http.post(
        f"{inv}/api/v1/resources/{tour['id']}/slots/generate", json=span
    ).raise_for_status()
    slots = client.http.get(f"{inv}/api/v1/resources/{tour['id']}/slots", params=span).json()
    return tour["id"], slots


def seats(client: PlatformClient, slot_id: str) -> int:
    return int(
        client.http.get(f"{client.urls['inventory']}/api/v1/slots/{slot_id}").json()["reserved"]
    )


def test_a_bigger_party_on_a_nearly_full_slot_then_a_move_to_the_next_slot(
    platform: Platform, client: PlatformClient
) -> None:
    tour, (first, second) = a_tour_with_two_slots(client, seats=4)
    body = {
        "resource_id": tour,
        "slot_id": first["id"],
        "party": {"adults": 3},
        "guest": guest(),
        "payment_method": "pm_card_visa",
    }
    booking = client.book(body, wait=20).json()
    assert booking["status"] == "confirmed", booking
    # Four seats, three taken by this party: one more guest only needs the one left.
    assert modify(client, booking["id"], {"party": {"adults": 4}}).status_code == 202
    bigger = settled(client, booking["id"])
    assert bigger["modification"]["status"] == "applied", bigger["modification"]
    assert bigger["party"]["adults"] == 4 and seats(client, first["id"]) == 4
    assert amount(bigger["total"]) > amount(booking["total"])

    assert modify(client, booking["id"], {"slot_id": second["id"]}).status_code == 202
    moved = until(
        lambda: (
            client.booking(booking["id"])["slot_id"] == second["id"]
            and client.booking(booking["id"])
        ),
        timeout=60,
    )
    assert moved["starts_at"] != bigger["starts_at"]
    assert (seats(client, first["id"]), seats(client, second["id"])) == (0, 4)
    assert events(platform, booking["id"]) == ["created", "confirmed", "updated", "updated"]


def test_modify_needs_the_current_version_and_two_racing_modifications_cannot_both_win(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client, capacity=3)
    start = far(160)
    booking = client.book(booking_body(rid, start, nights=2), wait=20).json()
    change = {"check_out": (start + timedelta(3)).isoformat()}
    missing = client.http.post(url(client, booking["id"], "/modify"), json=change)
    assert missing.status_code == 428
    assert modify(client, booking["id"], change, **{"If-Match": '"1"'}).status_code == 412
    nothing = modify(client, booking["id"], {"check_out": booking["check_out"]})
    assert nothing.status_code == 422

    tag = client.http.get(url(client, booking["id"])).headers["ETag"]

    def attempt(nights: int) -> httpx.Response:
        with httpx.Client(headers=dict(client.http.headers), timeout=30) as http:
            return http.post(
                url(client, booking["id"], "/modify"),
                json={"check_out": (start + timedelta(nights)).isoformat()},
                headers={"If-Match": tag},
            )

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(attempt, [3, 4]))
    assert sorted(a.status_code for a in answers) == [202, 412], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 202).json()
    done = settled(client, booking["id"])
    assert done["modification"]["status"] == "applied"
    assert done["check_out"] == winner["modification"]["requested"]["check_out"]
    sagas = fetch(
        platform.database_urls["booking"],
        "SELECT saga_type FROM sagas WHERE booking_id = $1 ORDER BY seq",
        booking["id"],
    )
    assert [s["saga_type"] for s in sagas] == ["create_booking", "modify_booking"]


def test_a_retried_modification_with_its_idempotency_key_is_made_once(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client, capacity=2)
    start = far(170)
    booking = client.book(booking_body(rid, start, nights=2), wait=20).json()
    tag = client.http.get(url(client, booking["id"])).headers["ETag"]
    key = f"m-{uuid.uuid4()}"
    change = {"party": {"adults": 1}}
    first = modify(client, booking["id"], change, **{"If-Match": tag, "Idempotency-Key": key})
    again = modify(client, booking["id"], change, **{"If-Match": tag, "Idempotency-Key": key})
    assert first.status_code == again.status_code == 202
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    other = modify(
        client, booking["id"], {"party": {"adults": 3}}, **{"If-Match": tag, "Idempotency-Key": key}
    )
    assert other.status_code == 422
    settled(client, booking["id"])
    sagas = fetch(
        platform.database_urls["booking"],
        "SELECT count(*) AS n FROM sagas WHERE booking_id = $1 AND saga_type = 'modify_booking'",
        booking["id"],
    )
    assert sagas[0]["n"] == 1
    # Only a confirmed booking moves.
    client.http.post(url(client, booking["id"], "/cancel"))
    refused = modify(client, booking["id"], {"party": {"adults": 2}})
    assert refused.status_code == 409 and refused.json()["type"].endswith("/not-modifiable")
