"""The platform's invariants, read from what the services stored.

Shared by the suite-wide check that runs last (``tests/e2e/test_zz_invariants.py``) and the
rule-based state machine that checks them after every step. Each check takes an optional set of
booking (or resource) ids to look at; ``None`` means everything.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from datetime import timedelta
from itertools import pairwise
from typing import Any

from booking.domain.booking import ALLOWED, REINSTATEMENTS, BookingStatus
from tests.support.db import fetch, snapshot

Urls = Mapping[str, str]
KEEPS_CAPACITY = ("confirmed", "checked_in", "completed")
ACTIVE_SAGA = ("running", "compensating", "parked")


def _where(column: str, ids: Collection[str] | None, cast: str = "text") -> tuple[str, tuple]:
    """A filter on ``column`` and its arguments; none when ``ids`` is ``None``."""
    if ids is None:
        return "", ()
    return f" WHERE {column} = ANY($1::{cast}[])", (list(ids),)


def bookings_keep_what_they_claim(urls: Urls, booking_ids: Collection[str] | None = None) -> None:
    """No confirmed booking without its confirmed capacity and its captured payment, whose
    net is the booking's total; no double charge; nothing kept by a booking that ended without
    being served; every saga terminal or visibly waiting."""
    # One snapshot of the booking database, then the others: what they hold can only follow
    # what the booking database already says (an unpaid booking expiring meanwhile included).
    where, args = _where("id", booking_ids, "uuid")
    saga_where, saga_args = _where("booking_id", booking_ids, "uuid")
    runs, bookings, late = snapshot(
        urls["booking"],
        (
            "SELECT booking_id::text, saga_type, status FROM sagas" + saga_where + " ORDER BY seq",
            saga_args,
        ),
        (
            "SELECT id::text, status, payment_id, reservation_id, total_amount, confirmed_at "
            "FROM bookings" + where,
            args,
        ),
        (
            "SELECT booking_id::text, payment_id FROM late_payments WHERE settled_at IS NULL"
            + saga_where.replace("WHERE", "AND"),
            saga_args,
        ),
    )
    unsettled = {r["booking_id"] for r in late}
    sagas: dict[str, list[Any]] = defaultdict(list)
    for r in runs:
        sagas[r["booking_id"]].append(r)
    where, args = _where("booking_id", booking_ids)
    active_claims: dict[str, list[Any]] = defaultdict(list)
    for c in fetch(
        urls["inventory"],
        "SELECT booking_id, id::text, status FROM reservations" + where,
        *args,
    ):
        if c["booking_id"] is not None and c["status"] in ("held", "confirmed"):
            active_claims[c["booking_id"]].append(c)
    payments: dict[str, list[Any]] = defaultdict(list)
    for p in fetch(
        urls["payment"],
        "SELECT booking_id, id::text, status, captured_amount, refunded_amount FROM payments"
        + where,
        *args,
    ):
        payments[p["booking_id"]].append(p)

    for b in bookings:
        pays = payments.get(b["id"], [])
        # A modification that cost more took a second payment and refunded the first: at most
        # one payment of a booking keeps money.
        keeping = [p for p in pays if p["captured_amount"] > p["refunded_amount"]]
        assert len(keeping) <= 1, f"double charge for {b['id']}: {pays}"
        runs = sagas[b["id"]]
        assert runs and runs[0]["saga_type"] == "create_booking", b
        active = [r for r in runs if r["status"] in ACTIVE_SAGA]
        assert len(active) <= 1, (b, runs)
        holds = active_claims.get(b["id"], [])
        if b["status"] in KEEPS_CAPACITY:
            assert [c["status"] for c in holds] == ["confirmed"], (b, holds)
            assert holds[0]["id"] == b["reservation_id"], (b, holds)
            assert [p["id"] for p in keeping] == [b["payment_id"]], (b, pays)
            live = keeping[0]
            assert live["status"] == "captured", (b, live)
            assert live["captured_amount"] - live["refunded_amount"] == b["total_amount"], b
        elif b["status"] in ("pending", "awaiting_payment"):
            assert [r["status"] for r in active] == ["running"], (b, runs)  # waiting to be paid
        elif not active:  # rejected, expired, cancelled, refunded, no_show: nothing kept
            assert holds == [], (b, holds)
            # A late payment is settled once no saga of its booking runs (reinstated or
            # refunded): none waits for ever.
            assert b["id"] not in unsettled, f"late payment never settled for {b['id']}"
            never_served = b["status"] in ("rejected", "expired") or (
                b["status"] == "cancelled" and b["confirmed_at"] is None
            )
            if never_served:  # captured - refunded = 0: the money went back
                assert keeping == [], f"money kept for {b['id']} ({b['status']}): {pays}"
                assert all(p["status"] in ("failed", "canceled", "captured") for p in pays), b
            if b["status"] == "refunded":
                assert any(p["refunded_amount"] > 0 for p in pays), (b, pays)


def sagas_on_time(
    urls: Urls, step_timeout_s: float, booking_ids: Collection[str] | None = None
) -> None:
    """No running saga is past its step deadline by more than twice the step timeout: its
    timer runs (a saga whose timer cannot run is parked, visibly, instead)."""
    where, args = _where("booking_id", booking_ids, "uuid")
    late = fetch(
        urls["booking"],
        "SELECT booking_id::text, saga_type, current_step, "
        "extract(epoch FROM now() - deadline) AS late_s FROM sagas "
        "WHERE status IN ('running', 'compensating') AND deadline < now() - "
        f"make_interval(secs => {2 * step_timeout_s!r})" + where.replace("WHERE", "AND"),
        *args,
    )
    assert not late, f"sagas overdue: {late}"


def refunds_add_up(urls: Urls, booking_ids: Collection[str] | None = None) -> None:
    """Each payment's refunds add up to what it says was refunded, never past its capture."""
    where, args = _where("p.booking_id", booking_ids)
    for p in fetch(
        urls["payment"],
        "SELECT p.id::text, p.captured_amount, p.refunded_amount, "
        "COALESCE((SELECT sum(r.amount) FROM refunds r WHERE r.payment_id = p.id), 0) AS refunds "
        "FROM payments p" + where,
        *args,
    ):
        assert p["refunds"] == p["refunded_amount"] <= p["captured_amount"], p


def ledger_agrees(urls: Urls, resource_ids: Collection[str] | None = None) -> None:
    """No night or slot oversold, none leaked: the counters equal the active claims."""
    where, args = _where("resource_id", resource_ids, "uuid")
    claims, nights, slots = snapshot(
        urls["inventory"],
        (
            "SELECT status, quantity, resource_id::text, check_in, claimed_until, slot_id::text "
            "FROM reservations" + where,
            args,
        ),
        (
            "SELECT resource_id::text, night, capacity, reserved FROM capacity_nights" + where,
            args,
        ),
        ("SELECT id::text, capacity, reserved FROM slots" + where, args),
    )
    nights_claimed: Counter = Counter()
    seats: Counter = Counter()
    for c in claims:
        if c["status"] not in ("held", "confirmed"):
            continue
        if c["slot_id"] is not None:
            seats[c["slot_id"]] += c["quantity"]
            continue
        day = c["check_in"]
        while day < c["claimed_until"]:  # the stay's nights and its turnover buffer
            nights_claimed[(c["resource_id"], day)] += c["quantity"]
            day += timedelta(days=1)
    for n in nights:
        assert 0 <= n["reserved"] <= n["capacity"], n
        assert n["reserved"] == nights_claimed[(n["resource_id"], n["night"])], n
    for s in slots:
        assert 0 <= s["reserved"] <= s["capacity"] and s["reserved"] == seats[s["id"]], s


def status_event(ce_type: str) -> str | None:
    """The status a ``booking.*`` event announces (``created`` for the first); ``None`` for the
    events that change no status (updated, the waitlist's)."""
    name = ce_type.removeprefix("booking.").removesuffix(".v1")
    if name == "updated" or name.startswith("waitlist"):
        return None
    return "awaiting_payment" if name == "status_changed" else name


def history_is_legal(history: list[tuple[str | None, str]], status: str) -> None:
    """Created pending, then one legal transition after another, ending where the booking is."""
    assert history and history[0] == (None, "pending"), history
    for (_, reached), (came_from, to) in pairwise(history):
        assert came_from == reached, history
        step = (BookingStatus(came_from), BookingStatus(to))
        assert step[1] in ALLOWED[step[0]] or step in REINSTATEMENTS, f"illegal {step}: {history}"
    assert history[-1][1] == status, (history, status)


def announced(history: list[tuple[str | None, str]]) -> list[str]:
    """The status events a history must have produced, in order."""
    return ["created" if came_from is None else to for came_from, to in history]


def events_match_history(urls: Urls, booking_ids: Collection[str] | None = None) -> None:
    """Every transition is legal and written to the outbox exactly once, in order, with one
    ``created`` first; every outbox message id is unique."""
    where, args = _where("id", booking_ids, "uuid")
    key_where, key_args = _where("key", booking_ids)
    history_where, history_args = _where("booking_id", booking_ids, "uuid")
    bookings, history, events = snapshot(
        urls["booking"],
        ("SELECT id::text, status FROM bookings" + where, args),
        (
            "SELECT booking_id::text, from_status, to_status FROM booking_status_history"
            + history_where
            + " ORDER BY id",
            history_args,
        ),
        (
            "SELECT message_id::text, key, ce_type FROM outbox WHERE topic = 'booking.events'"
            + key_where.replace("WHERE", "AND")
            + " ORDER BY id",
            key_args,
        ),
    )
    assert len({e["message_id"] for e in events}) == len(events)
    emitted: dict[str, list[str]] = defaultdict(list)
    for e in events:
        if (status := status_event(e["ce_type"])) is not None:
            emitted[e["key"]].append(status)
    transitions: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
    for h in history:
        transitions[h["booking_id"]].append((h["from_status"], h["to_status"]))
    for b in bookings:
        history_is_legal(transitions[b["id"]], b["status"])
        assert emitted[b["id"]] == announced(transitions[b["id"]]), b["id"]


def all_hold(
    urls: Urls, booking_ids: Collection[str] | None, resource_ids: Collection[str] | None
) -> list[str]:
    """Every check above that needs no step timeout, for these bookings and resources: what
    failed, one line each (empty when all hold)."""
    checks = {
        "bookings_keep_what_they_claim": lambda: bookings_keep_what_they_claim(urls, booking_ids),
        "refunds_add_up": lambda: refunds_add_up(urls, booking_ids),
        "ledger_agrees": lambda: ledger_agrees(urls, resource_ids),
        "events_match_history": lambda: events_match_history(urls, booking_ids),
    }
    failed = []
    for name, check in checks.items():
        try:
            check()
        except AssertionError as exc:
            failed.append(f"{name}: {str(exc)[:500]}")
    return failed
