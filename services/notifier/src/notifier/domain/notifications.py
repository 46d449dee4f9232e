"""What an event means for the guest and the tenant's systems. Pure.

* :func:`apply` keeps the notifier's view of a booking from its events (only ``booking.created``
  carries the guest and the dates; a later cancellation email still needs them).
* :func:`email_for` says which email an event causes, if any, and whether it carries a calendar
  entry.
* Every event on ``booking.events`` goes to the tenant's webhook endpoints that subscribe to its
  type (all types when an endpoint names none).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from contracts.base import Event
from contracts.booking import (
    BookingCancelled,
    BookingConfirmed,
    BookingCreated,
    BookingEvent,
    BookingExpired,
    BookingRefunded,
    BookingRejected,
    BookingStatusChanged,
    BookingUpdated,
    WaitlistOffered,
)

CHANNEL_EMAIL = "email"
CHANNEL_WEBHOOK = "webhook"

# booking.updated causes an email only when what the guest booked changed.
BOOKED_FIELDS = frozenset({"period", "window", "party"})
# A cancellation removes the calendar entry only if a confirmation put it there.
HAD_CALENDAR_ENTRY = frozenset({"confirmed", "checked_in"})


@dataclass(frozen=True)
class BookingView:
    booking_id: str
    version: int
    status: str
    tenant_id: str | None = None
    reference: str | None = None
    contact: dict[str, Any] | None = None  # name, email, locale
    resource_id: str | None = None
    resource_name: str | None = None
    timezone: str | None = None
    check_in: date | None = None
    check_out: date | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    is_slot: bool = False
    party_size: int | None = None
    total_amount: Decimal | None = None
    currency: str | None = None


def apply(view: BookingView | None, event: BookingEvent) -> BookingView:
    """The view after ``event``. Events of one booking arrive in order, but an older one may
    come late (redriven from the dead-letter topic after newer ones were applied): it never
    takes the view back (version and status stay), it only fills what the view lacks (a
    ``booking.created`` redriven after ``booking.confirmed`` brings the guest's contact)."""
    if view is not None and event.booking_version <= view.version:
        return _fill_gaps(view, event)
    if view is None:
        view = BookingView(booking_id=event.booking_id, version=0, status=event.status)
    changes: dict[str, Any] = {
        "version": event.booking_version,
        "status": event.status,
        "tenant_id": event.tenant_id or view.tenant_id,
        "reference": event.reference or view.reference,
    }
    if isinstance(event, BookingCreated):
        changes |= {
            "contact": event.contact.model_dump() if event.contact else None,
            "resource_id": event.resource_id,
            "resource_name": event.resource_name,
            "timezone": event.timezone or (event.window.timezone if event.window else None),
            "party_size": event.party.size,
            **_when(event.period.check_in, event.period.check_out, event.window),
        }
    elif isinstance(event, BookingUpdated):
        if event.contact is not None:
            changes["contact"] = event.contact.model_dump()
        if event.period is not None:
            changes |= _when(event.period.check_in, event.period.check_out, event.window)
        if event.party is not None:
            changes["party_size"] = event.party.size
        if event.total is not None:
            changes |= {"total_amount": event.total.amount, "currency": event.total.currency}
    elif isinstance(event, BookingConfirmed):
        changes |= {"total_amount": event.total.amount, "currency": event.total.currency}
    return replace(view, **changes)


def _fill_gaps(view: BookingView, older: BookingEvent) -> BookingView:
    if not isinstance(older, BookingCreated):
        return view
    known = {
        "contact": older.contact.model_dump() if older.contact else None,
        "resource_id": older.resource_id,
        "resource_name": older.resource_name,
        "timezone": older.timezone or (older.window.timezone if older.window else None),
        "party_size": older.party.size,
        "tenant_id": older.tenant_id,
        "reference": older.reference,
        **_when(older.period.check_in, older.period.check_out, older.window),
    }
    gaps = {k: v for k, v in known.items() if getattr(view, k) is None and v is not None}
    return replace(view, **gaps) if gaps else view


def _when(check_in: date, check_out: date, window: Any) -> dict[str, Any]:
    if window is not None:
        return {
            "check_in": check_in,
            "check_out": check_out,
            "starts_at": window.starts_at,
            "ends_at": window.ends_at,
            "timezone": window.timezone,
            "is_slot": True,
        }
    return {"check_in": check_in, "check_out": check_out, "is_slot": False}


@dataclass(frozen=True)
class EmailIntent:
    template: str  # the template's name: confirmed, modified, cancelled, ...
    calendar: str | None = None  # "request" (add or update) or "cancel", or no attachment


def email_for(event: Event) -> EmailIntent | None:
    if isinstance(event, BookingConfirmed):
        return EmailIntent("confirmed", "request")
    if isinstance(event, BookingUpdated):
        if BOOKED_FIELDS & set(event.changed):
            return EmailIntent("modified", "request")
        return None
    if isinstance(event, BookingCancelled):
        had_entry = event.previous_status in HAD_CALENDAR_ENTRY
        return EmailIntent("cancelled", "cancel" if had_entry else None)
    if isinstance(event, BookingRefunded):
        return EmailIntent("refunded")
    if isinstance(event, BookingRejected):
        return EmailIntent("rejected")
    if isinstance(event, BookingExpired):
        return EmailIntent("expired")
    if isinstance(event, BookingStatusChanged) and event.status == "awaiting_payment":
        return EmailIntent("awaiting_payment")
    if isinstance(event, WaitlistOffered):
        return EmailIntent("waitlist_offered")
    return None


def wants(event_types: list[str] | tuple[str, ...], event_type: str) -> bool:
    """Does an endpoint subscribed to ``event_types`` (empty: all) take ``event_type``?"""
    return not event_types or event_type in event_types
