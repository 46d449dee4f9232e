"""Platform-wide invariants over everything the e2e suite did (this module runs last in e2e/).

No confirmed booking without capacity and payment; no double charge; no oversold night; every
saga terminal or visibly waiting; every state change emitted exactly once.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict

import pytest

from devstack.platform import Platform
from tests.support.db import fetch

pytestmark = pytest.mark.e2e


def settle(platform: Platform, timeout: float = 60.0) -> None:
    """Wait until no saga is still running (the suite may have left some in flight)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = fetch(
            platform.database_urls["booking"],
            "SELECT count(*) AS n FROM sagas WHERE status IN ('running', 'compensating')",
        )
        if running[0]["n"] == 0:
            return
        time.sleep(0.5)


def test_invariants_hold_across_everything_the_suite_did(platform: Platform) -> None:
    settle(platform)
    urls = platform.database_urls
    bookings = fetch(
        urls["booking"], "SELECT id::text, status, payment_id, reservation_id FROM bookings"
    )
    assert bookings, "the e2e suite created bookings"
    sagas = {
        r["booking_id"]: r["status"]
        for r in fetch(urls["booking"], "SELECT booking_id::text, status FROM sagas")
    }
    # Every claim (REST holds have no booking), and the saga reservations by booking.
    claims = fetch(
        urls["inventory"],
        "SELECT booking_id, id::text, status, quantity, resource_id::text, check_in, claimed_until, "
        "slot_id::text FROM reservations",
    )
    reservations = {r["booking_id"]: r for r in claims if r["booking_id"] is not None}
    payments = fetch(urls["payment"], "SELECT booking_id, id::text, status FROM payments")
    payments_by_booking = defaultdict(list)
    for p in payments:
        payments_by_booking[p["booking_id"]].append(p)

    for b in bookings:
        pays = payments_by_booking.get(b["id"], [])
        assert len(pays) <= 1, f"double charge for {b['id']}"
        if b["status"] == "confirmed":
            assert reservations[b["id"]]["status"] == "confirmed"
            assert [p["status"] for p in pays] == ["captured"]
            assert pays[0]["id"] == b["payment_id"]
            assert sagas[b["id"]] == "succeeded"
        elif b["status"] == "rejected":
            assert sagas[b["id"]] == "failed"
            assert all(p["status"] in ("failed", "canceled") for p in pays), (
                f"money kept for {b['id']}"
            )
            if b["id"] in reservations:
                assert reservations[b["id"]]["status"] == "released"
        else:
            assert sagas[b["id"]] in ("running", "compensating", "parked"), b

    # Money: refunds add up to what each payment says was refunded, never past its capture.
    for p in fetch(
        urls["payment"],
        "SELECT p.id::text, p.captured_amount, p.refunded_amount, "
        "COALESCE((SELECT sum(r.amount) FROM refunds r WHERE r.payment_id = p.id), 0) AS refunds "
        "FROM payments p",
    ):
        assert p["refunds"] == p["refunded_amount"] <= p["captured_amount"], p

    # The ledger agrees with the reservations: no night oversold, none leaked.
    nights = fetch(
        urls["inventory"],
        "SELECT resource_id::text, night, capacity, reserved FROM capacity_nights",
    )
    expected: Counter = Counter()
    for r in (c for c in claims if c["slot_id"] is None):  # nights; slots are checked below
        if r["status"] in ("held", "confirmed"):
            day = r["check_in"]
            while day < r["claimed_until"]:  # the stay's nights and its turnover buffer
                expected[(r["resource_id"], day)] += r["quantity"]
                day = day.fromordinal(day.toordinal() + 1)
    for n in nights:
        assert 0 <= n["reserved"] <= n["capacity"]
        assert n["reserved"] == expected[(n["resource_id"], n["night"])], n

    # Every slot's seat count equals its active claims, within capacity.
    slots = fetch(urls["inventory"], "SELECT id::text, capacity, reserved FROM slots")
    seats: Counter = Counter()
    for c in claims:
        if c["slot_id"] is not None and c["status"] in ("held", "confirmed"):
            seats[c["slot_id"]] += c["quantity"]
    for s in slots:
        assert 0 <= s["reserved"] <= s["capacity"] and s["reserved"] == seats[s["id"]], s

    # Every state change emitted exactly once: one created event per booking, at most one outcome.
    events = fetch(
        urls["booking"],
        "SELECT message_id::text, key, ce_type FROM outbox WHERE topic = 'booking.events'",
    )
    assert len({e["message_id"] for e in events}) == len(events)
    per_booking = Counter((e["key"], e["ce_type"]) for e in events)
    assert all(count == 1 for count in per_booking.values())
    for b in bookings:
        assert per_booking[(b["id"], "booking.created.v1")] == 1
        outcome = {"confirmed": "booking.confirmed.v1", "rejected": "booking.rejected.v1"}.get(
            b["status"]
        )
        if outcome:
            assert per_booking[(b["id"], outcome)] == 1
