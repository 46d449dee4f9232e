"""Modify a confirmed booking that has not started: new dates (a stay), a new slot (a timeslot
booking) or a new party. The modify saga reserves the new capacity first, re-prices, settles
the difference and only then releases the old capacity; the booking stays ``confirmed`` and
shows the modification's progress."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Row

from booking.domain.booking import BookingStatus, stay_error
from booking.domain.sagas import MODIFY_BOOKING
from booking.usecases.commands import OnBooking, target
from booking.usecases.rules import busy
from booking.usecases.unit_of_work import UnitOfWork
from service_kit.problems import Problem


@dataclass(frozen=True, kw_only=True)
class ModifyBooking(OnBooking):
    """What is not given stays as it is; ``requested`` is the change as the caller sent it
    (the booking's ``modification`` shows it)."""

    check_in: date | None = None
    check_out: date | None = None
    slot_id: str | None = None
    party: dict[str, int] | None = None
    requested: dict[str, Any]


@dataclass(frozen=True)
class NewTime:
    """Where the booking moves: a stay's dates, or a timeslot booking's slot."""

    check_in: date | None
    check_out: date | None
    slot_id: str | None


@dataclass(frozen=True)
class Terms:
    """The tenant's settings a modification is made under."""

    payment_deadline_s: float  # how long the guest has to pay a dearer booking
    claim_hold_s: int  # how long the new claim is held before it is confirmed


def _bad(detail: str) -> Problem:
    return Problem(422, "invalid-modification", "Invalid modification", detail)


def new_time(current: Row[Any], command: ModifyBooking) -> NewTime:
    """The time ``command`` moves ``current`` to: a stay changes dates, a timeslot booking its
    slot (422 for anything else, and for dates that are no valid stay)."""
    timeslot = current.slot_id is not None
    if timeslot and (command.check_in or command.check_out):
        raise _bad("A timeslot booking moves to another slot_id, not to dates.")
    if not timeslot and command.slot_id is not None:
        raise _bad("A stay changes its dates, not a slot.")
    check_in = command.check_in or (None if timeslot else current.check_in)
    check_out = command.check_out or (None if timeslot else current.check_out)
    error = stay_error(check_in, check_out) if check_in and check_out else None
    if error:
        raise _bad(error)
    return NewTime(check_in, check_out, command.slot_id or current.slot_id)


async def modify_booking(
    uow: UnitOfWork,
    command: ModifyBooking,
    *,
    when: dict[str, Any],
    timezone: str,
    terms: Terms,
) -> Row[Any]:
    """``when``: the new time as inventory resolved it (dates, and a slot's window);
    ``timezone``: the resource's. ``If-Match`` is required: of two concurrent modifications
    one wins, the other gets 412."""
    booking = await target(uow, command, versioned=True)
    now = await uow.now()
    if booking.status != BookingStatus.CONFIRMED:
        raise Problem(
            409,
            "not-modifiable",
            "The booking cannot be modified",
            f"Only a confirmed booking can be modified; this one is {booking.status}.",
            current_status=booking.status,
        )
    if booking.starts_at is not None and booking.starts_at <= now:
        raise Problem(409, "already-started", "The booking has started", "It can no longer move.")
    party = command.party if command.party is not None else dict(booking.party)
    new: dict[str, Any] = {**when, "slot_id": new_time(booking, command).slot_id, "party": party}
    if all(getattr(booking, k) == v for k, v in new.items()):
        raise Problem(422, "nothing-to-change", "Nothing to change")
    if await uow.active_saga(booking.id) is not None:
        raise busy()
    seq = await uow.next_saga_seq(booking.id)
    before = uow.saga_data(booking)
    modification = {
        "status": "in_progress",
        "requested": command.requested,
        "requested_at": now.isoformat(),
        "requested_by": command.who.subject,
    }
    booking = await uow.bookkeep(booking, {"modification": modification}, command.actor, "modify")
    data = replace(
        before,
        **new,
        timezone=timezone,
        claim_key=f"{booking.id}#{seq}",
        reservation_id=None,
        unit_id=None,
        quote_id=None,
        total_amount=None,
        payment_id=None,
        old_reservation_id=booking.reservation_id,
        old_payment_id=booking.payment_id,
        net_paid_before=before.net_paid,
        pay_by=now + timedelta(seconds=terms.payment_deadline_s),
        hold_seconds=terms.claim_hold_s,
    )
    await uow.start_saga(booking.id, MODIFY_BOOKING, data, seq=seq)
    return booking
