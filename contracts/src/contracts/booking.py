"""Public ``booking.*`` lifecycle events on ``booking.events``, keyed by booking id.

These are what downstream consumers (analytics, notifier, webhooks) build on: additive changes
only within a version.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime

from contracts.base import Event, Money
from contracts.common import Party, StayPeriod


class BookingEvent(Event):
    booking_id: str
    booking_version: int
    status: str
    occurred_at: AwareDatetime


class BookingCreated(BookingEvent):
    type: ClassVar[str] = "booking.created"
    resource_id: str
    period: StayPeriod
    party: Party


class BookingConfirmed(BookingEvent):
    type: ClassVar[str] = "booking.confirmed"
    total: Money
    payment_id: str
    reservation_id: str


class BookingRejected(BookingEvent):
    """The create saga failed before confirmation; everything it took has been given back.

    ``reason`` is machine-readable: ``capacity_unavailable``, ``not_bookable``, ``pricing_failed``,
    ``payment_declined``, ``reservation_confirmation_failed``, ``payment_capture_failed``,
    ``step_timed_out``.
    """

    type: ClassVar[str] = "booking.rejected"
    reason: str
    detail: str = ""
