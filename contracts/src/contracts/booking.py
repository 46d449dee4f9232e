"""Public ``booking.*`` lifecycle events on ``booking.events``, keyed by booking id.

These are what downstream consumers (analytics, notifier, webhooks) build on: additive changes
only within a version (new fields are optional).

Every status transition is emitted exactly once, as one event: the event named after the new
status where there is one (``booking.confirmed``, ``booking.cancelled``, ...), otherwise
``booking.status_changed`` (``pending`` → ``awaiting_payment``). All of them carry ``status``
and ``previous_status``, so a consumer interested in every transition reads them all alike.
``booking.created`` opens a booking's stream and ``booking.updated`` reports changes that are not
a status transition (contact details, notes, new dates or party after a modification).
``booking_version`` grows by one with each event of a booking: a consumer that has seen version
N can drop anything at or below it.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import AwareDatetime

from contracts.base import Event, Money
from contracts.common import Contact, Party, StayPeriod, TimeWindow


class BookingEvent(Event):
    booking_id: str
    booking_version: int
    status: str
    occurred_at: AwareDatetime
    tenant_id: str | None = None
    reference: str | None = None


class BookingStatusEvent(BookingEvent):
    """A status transition: who made it (``actor``) and why (``reason``)."""

    previous_status: str | None = None
    actor: str | None = None
    reason: str | None = None


class BookingCreated(BookingEvent):
    type: ClassVar[str] = "booking.created"
    resource_id: str
    period: StayPeriod
    party: Party
    window: TimeWindow | None = None  # a timeslot booking's time
    slot_id: str | None = None
    venue_id: str | None = None
    guest_id: str | None = None
    contact: Contact | None = None  # whom the notifier writes to (personal data)
    resource_name: str | None = None  # as inventory named it when the booking was made
    timezone: str | None = None  # the resource's IANA timezone: where "a day" is counted


class BookingUpdated(BookingEvent):
    """Changes that are not a status transition. ``changed`` names the fields (``guest``,
    ``notes``, ``period``, ``window``, ``party``, ``total``); the values are the new ones."""

    type: ClassVar[str] = "booking.updated"
    changed: tuple[str, ...]
    period: StayPeriod | None = None
    window: TimeWindow | None = None
    party: Party | None = None
    total: Money | None = None
    contact: Contact | None = None  # present when the guest's details changed


class BookingStatusChanged(BookingStatusEvent):
    """A transition without an event of its own (``pending`` → ``awaiting_payment``)."""

    type: ClassVar[str] = "booking.status_changed"
    payment_deadline: datetime | None = None


class BookingConfirmed(BookingStatusEvent):
    type: ClassVar[str] = "booking.confirmed"
    total: Money
    payment_id: str
    reservation_id: str


class BookingRejected(BookingStatusEvent):
    """The create saga failed before confirmation; everything it took has been given back.

    ``reason`` is machine-readable: ``capacity_unavailable``, ``not_bookable``, ``pricing_failed``,
    ``payment_declined``, ``reservation_confirmation_failed``, ``payment_capture_failed``,
    ``step_timed_out``.
    """

    type: ClassVar[str] = "booking.rejected"
    reason: str
    detail: str = ""


class BookingCancelled(BookingStatusEvent):
    """Cancelled by the guest or staff (``actor``); ``refund`` follows as ``booking.refunded``."""

    type: ClassVar[str] = "booking.cancelled"


class BookingRefunded(BookingStatusEvent):
    """The cancellation's refund settled (the amount the policy snapshot allowed)."""

    type: ClassVar[str] = "booking.refunded"
    refund: Money


class BookingExpired(BookingStatusEvent):
    """Unpaid at its payment deadline (or a held checkout that ran out); capacity given back."""

    type: ClassVar[str] = "booking.expired"


class BookingCheckedIn(BookingStatusEvent):
    type: ClassVar[str] = "booking.checked_in"


class BookingCompleted(BookingStatusEvent):
    type: ClassVar[str] = "booking.completed"


class BookingNoShow(BookingStatusEvent):
    type: ClassVar[str] = "booking.no_show"


class WaitlistEvent(Event):
    entry_id: str
    tenant_id: str
    resource_id: str
    occurred_at: AwareDatetime


class WaitlistOffered(WaitlistEvent):
    """Capacity freed up and was held for this waitlist entry until ``expires_at``."""

    type: ClassVar[str] = "booking.waitlist_offered"
    hold_id: str
    expires_at: AwareDatetime
    guest_id: str
    contact_email: str | None = None
    contact_name: str | None = None
    locale: str | None = None  # the guest's BCP 47 language tag, when given


class WaitlistOfferAccepted(WaitlistEvent):
    type: ClassVar[str] = "booking.waitlist_offer_accepted"
    booking_id: str


class WaitlistOfferExpired(WaitlistEvent):
    """The offer was not taken in time; the capacity goes to the next entry that fits."""

    type: ClassVar[str] = "booking.waitlist_offer_expired"
    hold_id: str


# A transition's event class by the status it arrives at; the rest use BookingStatusChanged.
STATUS_EVENTS: dict[str, type[BookingStatusEvent]] = {
    "confirmed": BookingConfirmed,
    "rejected": BookingRejected,
    "cancelled": BookingCancelled,
    "refunded": BookingRefunded,
    "expired": BookingExpired,
    "checked_in": BookingCheckedIn,
    "completed": BookingCompleted,
    "no_show": BookingNoShow,
}
