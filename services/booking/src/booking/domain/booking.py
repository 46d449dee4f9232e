"""The booking and its status machine. Pure.

This walking skeleton uses the create path: ``pending`` → ``confirmed`` | ``rejected``.
The full machine (awaiting_payment, checked_in, cancelled, ...) arrives with the lifecycle issue.
"""

from __future__ import annotations

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


ALLOWED: dict[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.PENDING: frozenset(
        {
            BookingStatus.AWAITING_PAYMENT,
            BookingStatus.CONFIRMED,
            BookingStatus.CANCELLED,
            BookingStatus.EXPIRED,
            BookingStatus.REJECTED,
        }
    ),
    BookingStatus.AWAITING_PAYMENT: frozenset(
        {
            BookingStatus.CONFIRMED,
            BookingStatus.CANCELLED,
            BookingStatus.EXPIRED,
            BookingStatus.REJECTED,
        }
    ),
    BookingStatus.CONFIRMED: frozenset(
        {BookingStatus.CHECKED_IN, BookingStatus.CANCELLED, BookingStatus.NO_SHOW}
    ),
    BookingStatus.CHECKED_IN: frozenset({BookingStatus.COMPLETED, BookingStatus.CANCELLED}),
    BookingStatus.CANCELLED: frozenset({BookingStatus.REFUNDED}),
    BookingStatus.COMPLETED: frozenset(),
    BookingStatus.REFUNDED: frozenset(),
    BookingStatus.NO_SHOW: frozenset(),
    BookingStatus.EXPIRED: frozenset(),
    BookingStatus.REJECTED: frozenset(),
}

TERMINAL = frozenset(s for s, nxt in ALLOWED.items() if not nxt)
# Where a create request has its answer: the saga is over (confirmed, or it ended otherwise).
SETTLED = TERMINAL | {BookingStatus.CONFIRMED}


class IllegalTransition(Exception):
    def __init__(self, current: BookingStatus, wanted: BookingStatus) -> None:
        super().__init__(f"cannot go from {current} to {wanted}")
        self.current = current
        self.wanted = wanted
        self.allowed = sorted(ALLOWED[current])


def transition(current: BookingStatus, wanted: BookingStatus) -> BookingStatus:
    if wanted not in ALLOWED[current]:
        raise IllegalTransition(current, wanted)
    return wanted
