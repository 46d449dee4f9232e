"""The waitlist's commands: join (wait for capacity), leave (an open offer is given up and its
hold released) and accept an offer (it becomes a booking, opened with the offer's hold). Offers
themselves are made when inventory answers a hold request (``booking.handlers``). A guest acts
only on their own entries, staff on their tenant's; anything else is 404."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Row

from booking.usecases.open_booking import OpenBooking, Place, Terms, open_booking
from booking.usecases.unit_of_work import UnitOfWork
from contracts.booking import WaitlistOfferAccepted
from service_kit.audit import Actor
from service_kit.auth import Principal
from service_kit.problems import Problem

OPEN = ("waiting", "offered")


@dataclass(frozen=True, kw_only=True)
class JoinWaitlist:
    who: Principal
    guest_id: str | None  # whom it is for (staff only; a guest waits in their own name)
    resource_id: str
    slot_id: str | None
    check_in: date  # the stay's dates, or the slot's local day, as inventory resolved them
    check_out: date
    party: dict[str, int]
    priority: int  # staff only
    contact: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class OnEntry:
    entry_id: str
    who: Principal


@dataclass(frozen=True, kw_only=True)
class LeaveWaitlist(OnEntry):
    pass


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", "Forbidden", detail)


def waiter_of(who: Principal, named: str | None, priority: int) -> str:
    """Whose entry it is: a guest waits in their own name and without priority (403)."""
    if who.is_staff:
        return named or who.subject
    if priority:
        raise forbidden("Priority is set by staff.")
    if named not in (None, who.subject):
        raise forbidden("A guest waits only in their own name.")
    return who.subject


async def join_waitlist(uow: UnitOfWork, command: JoinWaitlist, offer_s: float) -> Row[Any]:
    """If capacity is free already an offer follows at once (the hold request is sent now);
    otherwise the entry is offered the first capacity released that fits its party."""
    who = command.who
    guest_id = waiter_of(who, command.guest_id, command.priority)
    await uow.check_entry_quota(who, guest_id)
    entry = await uow.add_entry(
        {
            "tenant_id": who.tenant,
            "guest_id": guest_id,
            "resource_id": command.resource_id,
            "slot_id": command.slot_id,
            "check_in": command.check_in,
            "check_out": command.check_out,
            "party": command.party,
            "priority": command.priority,
            "contact": command.contact,
        }
    )
    await uow.ask_for_offers([entry], offer_s)
    return entry


async def leave_waitlist(uow: UnitOfWork, command: LeaveWaitlist) -> Row[Any]:
    entry = await uow.entry(command.entry_id, command.who)
    if entry.status not in OPEN:
        raise Problem(
            409,
            "waitlist-entry-closed",
            "The entry is closed",
            f"A {entry.status} entry cannot be cancelled.",
            current_status=entry.status,
        )
    if entry.status == "offered":
        await uow.release_offer(entry)
    return await uow.update_entry(entry, status="cancelled")


@dataclass(frozen=True, kw_only=True)
class AcceptOffer(OnEntry):
    """The guest's choices for the booking; the rest (resource, time, party, contact and the
    offer's hold) is the entry's."""

    actor: Actor
    payment_method: str
    special_requests: str | None = None
    dietary_notes: str | None = None
    accessibility_notes: str | None = None


async def accept_offer(
    uow: UnitOfWork, command: AcceptOffer, place: Place, terms: Terms
) -> Row[Any]:
    """Book the offer before it expires (409 when there is no open offer): the booking takes
    the offer's hold and is confirmed (or not) by the create saga like any other."""
    entry = await uow.entry(command.entry_id, command.who)
    now = await uow.now()
    if entry.status != "offered" or entry.offer_expires_at <= now:
        raise Problem(
            409,
            "no-open-offer",
            "No open offer",
            "The entry has no offer to accept (not made yet, expired or accepted).",
            current_status=entry.status,
            booking_id=entry.booking_id,
        )
    opening = OpenBooking(
        who=command.who,
        actor=command.actor,
        guest_id=entry.guest_id,
        resource_id=entry.resource_id,
        slot_id=entry.slot_id,
        party=dict(entry.party),
        contact=dict(entry.contact),
        payment_method=command.payment_method,
        special_requests=command.special_requests,
        dietary_notes=command.dietary_notes,
        accessibility_notes=command.accessibility_notes,
        hold_id=entry.hold_id,
    )
    booking = await open_booking(uow, opening, place, terms)
    await uow.update_entry(entry, status="accepted", booking_id=booking.id)
    await uow.announce_entry(
        entry,
        WaitlistOfferAccepted(
            entry_id=entry.id,
            tenant_id=entry.tenant_id,
            resource_id=entry.resource_id,
            occurred_at=now,
            booking_id=booking.id,
        ),
    )
    return booking
