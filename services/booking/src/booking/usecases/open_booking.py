"""Open a booking: the row (``pending``), its first history entry and ``booking.created``, and
the create saga's first command, in one transaction. ``POST /bookings`` opens one; so does an
accepted waitlist offer (with the offer's hold)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Row

from booking.domain.booking import BookingStatus
from booking.domain.reference import new_reference
from booking.domain.saga_data import SagaData
from booking.domain.sagas import CREATE_BOOKING
from booking.usecases.unit_of_work import UnitOfWork
from service_kit.audit import Actor
from service_kit.auth import Principal
from service_kit.problems import Problem

BANK_TRANSFER = "bank_transfer"


@dataclass(frozen=True, kw_only=True)
class OpenBooking:
    """A booking of ``resource_id`` (a stay, or ``slot_id``'s time) for ``guest_id``;
    ``contact`` is the guest's name, email and locale (guest data: never logged)."""

    who: Principal
    actor: Actor
    guest_id: str
    resource_id: str
    slot_id: str | None
    party: dict[str, int]
    contact: dict[str, Any]
    payment_method: str
    special_requests: str | None = None
    dietary_notes: str | None = None
    accessibility_notes: str | None = None
    hold_id: str | None = None  # a hold placed before booking becomes the booking's claim


@dataclass(frozen=True)
class Place:
    """Where and when, as inventory resolved them: the resource's venue, timezone and name,
    and the stay's dates or the slot's window (``check_in``, ``check_out``, ``starts_at``,
    ``ends_at``)."""

    venue_id: str | None
    timezone: str
    name: str | None
    when: dict[str, Any]

    @property
    def check_in(self) -> date:
        return self.when["check_in"]

    @property
    def check_out(self) -> date:
        return self.when["check_out"]


@dataclass(frozen=True)
class Terms:
    payment_deadline_s: float  # how long a bank transfer may take
    claim_hold_s: int  # how long the claim is held before it is confirmed


def guest_of(who: Principal, named: str | None) -> str:
    """Whose booking it is: a guest books only in their own name (403 otherwise); staff in
    any guest's, by default their own."""
    if who.is_staff:
        return named or who.subject
    if named not in (None, who.subject):
        raise Problem(403, "forbidden", "Forbidden", "A guest books only in their own name.")
    return who.subject


async def open_booking(
    uow: UnitOfWork, command: OpenBooking, place: Place, terms: Terms
) -> Row[Any]:
    who = command.who
    if command.payment_method == BANK_TRANSFER:
        await uow.check_unpaid_quota(who, command.guest_id)
    now = await uow.now()
    booking = await uow.create(
        {
            "id": str(uuid.uuid4()),
            "reference": new_reference(now.date()),
            "tenant_id": who.tenant,
            "guest_id": command.guest_id,
            "venue_id": place.venue_id,
            "resource_id": command.resource_id,
            "slot_id": command.slot_id,
            "timezone": place.timezone,
            "resource_name": place.name,
            **place.when,
            "party": command.party,
            "guest": command.contact,
            "special_requests": command.special_requests,
            "dietary_notes": command.dietary_notes,
            "accessibility_notes": command.accessibility_notes,
            "payment_method": command.payment_method,
            "hold_id": command.hold_id,
            "status": BookingStatus.PENDING.value,
        },
        command.actor,
    )
    data = SagaData(
        booking_id=booking.id,
        resource_id=command.resource_id,
        check_in=place.check_in,
        check_out=place.check_out,
        party=command.party,
        payment_method=command.payment_method,
        tenant_id=who.tenant,
        venue_id=place.venue_id,
        slot_id=command.slot_id,
        starts_at=place.when["starts_at"],
        ends_at=place.when["ends_at"],
        timezone=place.timezone,
        hold_id=command.hold_id,
        holder=None if who.is_staff else who.subject,
        hold_seconds=terms.claim_hold_s,
        pay_by=now + timedelta(seconds=terms.payment_deadline_s),
    )
    await uow.start_saga(booking.id, CREATE_BOOKING, data, seq=1)
    return booking
