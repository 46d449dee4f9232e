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
        urls["booking"],
        "SELECT id::text, status, payment_id, reservation_id, total_amount FROM bookings",
    )
    assert bookings, "the e2e suite created bookings"
    sagas: dict[str, list[dict]] = defaultdict(list)
    for r in fetch(
        urls["booking"], "SELECT booking_id::text, saga_type, status FROM sagas ORDER BY seq"
    ):
        sagas[r["booking_id"]].append(r)
    # Every claim (REST holds have no booking); a booking may own several over its life.
    claims = fetch(
        urls["inventory"],
        "SELECT booking_id, id::text, status, quantity, resource_id::text, check_in, claimed_until, "
        "slot_id::text FROM reservations",
    )
    active_claims: dict[str, list[dict]] = defaultdict(list)
    for c in claims:
        if c["booking_id"] is not None and c["status"] in ("held", "confirmed"):
            active_claims[c["booking_id"]].append(c)
    payments = fetch(
        urls["payment"],
        "SELECT booking_id, id::text, status, captured_amount, refunded_amount FROM payments",
    )
    payments_by_booking = defaultdict(list)
    for p in payments:
        payments_by_booking[p["booking_id"]].append(p)

    for b in bookings:
        pays = payments_by_booking.get(b["id"], [])
        # A modification that cost more took a second payment and refunded the first: at most
        # one payment of a booking keeps money.
        keeping = [p for p in pays if p["captured_amount"] > p["refunded_amount"]]
        assert len(keeping) <= 1, f"double charge for {b['id']}"
        runs = sagas[b["id"]]
        assert runs and runs[0]["saga_type"] == "create_booking", b
        active = [r for r in runs if r["status"] in ("running", "compensating", "parked")]
        assert len(active) <= 1, b
        holds = active_claims.get(b["id"], [])
        if b["status"] in ("confirmed", "checked_in", "completed"):
            # No confirmed booking without confirmed capacity and money taken.
            assert [c["status"] for c in holds] == ["confirmed"], b
            assert holds[0]["id"] == b["reservation_id"], b
            assert [p["id"] for p in keeping] == [b["payment_id"]], b
            live = keeping[0]
            assert live["status"] == "captured", b
            assert live["captured_amount"] - live["refunded_amount"] == b["total_amount"], b
        elif b["status"] in ("pending", "awaiting_payment"):
            assert [r["status"] for r in active] == ["running"], b  # waiting for the guest
        else:  # rejected, expired, cancelled, refunded, no_show: no capacity kept
            if not active:
                assert holds == [], b
            if b["status"] in ("rejected", "expired"):
                assert keeping == [], f"money kept for {b['id']}"
                assert all(p["status"] in ("failed", "canceled", "captured") for p in pays), b
            if b["status"] == "refunded":
                assert any(p["refunded_amount"] > 0 for p in pays), b

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

    # Every state change emitted exactly once: one created event per booking, and the status
    # events in the order of the booking's status history (one per transition).
    events = fetch(
        urls["booking"],
        "SELECT message_id::text, key, ce_type FROM outbox WHERE topic = 'booking.events' "
        "ORDER BY id",
    )
    assert len({e["message_id"] for e in events}) == len(events)
    emitted: dict[str, list[str]] = defaultdict(list)
    for e in events:
        name = e["ce_type"].removeprefix("booking.").removesuffix(".v1")
        if name not in ("updated",) and not name.startswith("waitlist"):
            emitted[e["key"]].append("awaiting_payment" if name == "status_changed" else name)
    transitions: dict[str, list[str]] = defaultdict(list)
    for h in fetch(
        urls["booking"],
        "SELECT booking_id::text, from_status, to_status FROM booking_status_history ORDER BY id",
    ):
        transitions[h["booking_id"]].append(
            "created" if h["from_status"] is None else h["to_status"]
        )
    for b in bookings:
        assert emitted[b["id"]] == transitions[b["id"]], b
        assert emitted[b["id"]][0] == "created" and emitted[b["id"]][-1] in (b["status"], "created")
