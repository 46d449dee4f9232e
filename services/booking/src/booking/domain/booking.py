"""The booking and its status machine. Pure.

    pending ──▶ awaiting_payment ──▶ confirmed ──▶ checked_in ──▶ completed
       │              │                 │  │            │
       │              │                 │  └─▶ no_show (after the start)
       └──────────────┴─────────────────┴───────────────┴──▶ cancelled ──▶ refunded
    pending, awaiting_payment ──▶ expired (unpaid at the deadline)
    pending, awaiting_payment ──▶ rejected (the create saga failed before confirmation)

completed, refunded, expired, rejected and no_show end a booking: nothing about it changes any
more. One transition is the platform's own and never a caller's: a bank transfer that arrives
after its booking expired reinstates it (``expired`` → ``confirmed``) when the capacity can
still be had (the late-payment saga).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum


class BookingStatus(StrEnum):
    PENDING = "pending"
    AWAITING_PAYMENT = "awaiting_payment"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    NO_SHOW = "no_show"
    EXPIRED = "expired"
    REJECTED = "rejected"


S = BookingStatus

ALLOWED: dict[BookingStatus, frozenset[BookingStatus]] = {
    S.PENDING: frozenset({S.AWAITING_PAYMENT, S.CONFIRMED, S.CANCELLED, S.EXPIRED, S.REJECTED}),
    S.AWAITING_PAYMENT: frozenset({S.CONFIRMED, S.CANCELLED, S.EXPIRED, S.REJECTED}),
    S.CONFIRMED: frozenset({S.CHECKED_IN, S.CANCELLED, S.NO_SHOW}),
    S.CHECKED_IN: frozenset({S.COMPLETED, S.CANCELLED}),
    S.CANCELLED: frozenset({S.REFUNDED}),
    S.COMPLETED: frozenset(),
    S.REFUNDED: frozenset(),
    S.NO_SHOW: frozenset(),
    S.EXPIRED: frozenset(),
    S.REJECTED: frozenset(),
}

# Transitions only the platform makes (a late payment reinstating an expired booking).
REINSTATEMENTS = frozenset({(S.EXPIRED, S.CONFIRMED)})

TERMINAL = frozenset(s for s, nxt in ALLOWED.items() if not nxt)
# Nothing about these bookings changes any more (cancelled still becomes refunded, by the saga).
IMMUTABLE = TERMINAL | {S.CANCELLED}
# Where a create request has its answer (201 after ``Prefer: wait``): the create saga is over.
SETTLED = TERMINAL | {S.CONFIRMED, S.CANCELLED}
# Where waiting for the create saga stops: over, or waiting for the guest to pay (202).
WAIT_ENDS = SETTLED | {S.AWAITING_PAYMENT}

# The column that records when a booking reached a status.
STAMPS: dict[BookingStatus, str] = {
    S.AWAITING_PAYMENT: "awaiting_payment_at",
    S.CONFIRMED: "confirmed_at",
    S.CHECKED_IN: "checked_in_at",
    S.COMPLETED: "completed_at",
    S.CANCELLED: "cancelled_at",
    S.REFUNDED: "refunded_at",
    S.NO_SHOW: "no_show_at",
    S.EXPIRED: "expired_at",
    S.REJECTED: "rejected_at",
}


class IllegalTransition(Exception):
    def __init__(self, current: BookingStatus, wanted: BookingStatus) -> None:
        super().__init__(f"cannot go from {current} to {wanted}")
        self.current = current
        self.wanted = wanted
        self.allowed = sorted(ALLOWED[current])


class NotYetStarted(Exception):
    """A no-show is recorded only once the booking's time has begun."""


def transition(
    current: BookingStatus, wanted: BookingStatus, *, reinstate: bool = False
) -> BookingStatus:
    if wanted in ALLOWED[current] or (reinstate and (current, wanted) in REINSTATEMENTS):
        return wanted
    raise IllegalTransition(current, wanted)


def check_no_show(starts_at: datetime, now: datetime) -> None:
    if now < starts_at:
        raise NotYetStarted(f"the booking starts at {starts_at.isoformat()}")


MAX_NIGHTS = 365


def stay_error(check_in: date, check_out: date) -> str | None:
    """What is wrong with a stay's dates, if anything."""
    if check_out <= check_in:
        return "check_out must be after check_in"
    if (check_out - check_in).days > MAX_NIGHTS:
        return f"a stay is at most {MAX_NIGHTS} nights"
    return None
