"""What one ``booking.*`` event adds to the figures. Pure: no Kafka, no database.

The figures, per resource and per day (the day in the resource's timezone, as
``booking.created`` tells it):

* ``created``, ``confirmed``, ``cancelled``: bookings that reached that status that day;
* revenue per currency: totals of confirmations, corrected by modifications that changed the
  total, and refunds, on the day they happened;
* conversion: of the bookings created on a day, how many were ever confirmed (a query over the
  per-booking state, ``store.conversion``).

A booking's state (its resource, timezone, version and total) is what later events need and do
not carry. Events of one booking arrive in order (one key, one partition); an event at or below
the version already applied is a redelivery and adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date
from decimal import Decimal
from zoneinfo import ZoneInfo

from contracts.base import Event
from contracts.booking import (
    BookingCancelled,
    BookingConfirmed,
    BookingCreated,
    BookingEvent,
    BookingRefunded,
    BookingUpdated,
)


@dataclass(frozen=True)
class BookingState:
    booking_id: str
    resource_id: str
    timezone: str
    created_day: date
    version: int
    status: str
    confirmed: bool = False
    total: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True)
class Change:
    """What to add to the figures, and the booking's state after the event."""

    state: BookingState
    day: date
    created: int = 0
    confirmed: int = 0
    cancelled: int = 0
    revenue: dict[str, Decimal] = field(default_factory=dict)  # by currency
    refunded: dict[str, Decimal] = field(default_factory=dict)


def day_of(event: BookingEvent, timezone: str) -> date:
    return event.occurred_at.astimezone(ZoneInfo(timezone) if timezone else UTC).date()


def apply(state: BookingState | None, event: Event) -> Change | None:
    """The change ``event`` makes, or None when it makes none (not a booking event, an event of
    a booking whose creation this consumer never saw, or a redelivery)."""
    if not isinstance(event, BookingEvent):
        return None
    if isinstance(event, BookingCreated):
        if state is not None:
            return None  # created twice: a redelivery
        timezone = event.timezone or (event.window.timezone if event.window else "UTC")
        day = day_of(event, timezone)
        new = BookingState(
            booking_id=event.booking_id,
            resource_id=event.resource_id,
            timezone=timezone,
            created_day=day,
            version=event.booking_version,
            status=event.status,
        )
        return Change(new, day, created=1)
    if state is None or event.booking_version <= state.version:
        return None
    day = day_of(event, state.timezone)
    new = replace(state, version=event.booking_version, status=event.status)
    if isinstance(event, BookingConfirmed):
        amount, currency = event.total.amount, event.total.currency
        new = replace(new, confirmed=True, total=amount, currency=currency)
        return Change(new, day, confirmed=1, revenue={currency: amount})
    if isinstance(event, BookingUpdated) and event.total is not None and state.confirmed:
        old = state.total or Decimal(0)
        new = replace(new, total=event.total.amount, currency=event.total.currency)
        return Change(new, day, revenue={event.total.currency: event.total.amount - old})
    if isinstance(event, BookingCancelled):
        return Change(new, day, cancelled=1)
    if isinstance(event, BookingRefunded):
        return Change(new, day, refunded={event.refund.currency: event.refund.amount})
    return Change(new, day)
