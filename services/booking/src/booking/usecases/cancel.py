"""Cancel a booking: it is ``cancelled`` at once, and a saga gives back what it holds."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Row

from booking.domain.booking import BookingStatus, transition
from booking.domain.saga_engine import abort
from booking.domain.sagas import CANCEL_BOOKING, CANCELLED
from booking.usecases.commands import OnBooking, target
from booking.usecases.rules import busy, status_machine
from booking.usecases.unit_of_work import UnitOfWork
from service_kit.problems import Problem

S = BookingStatus


@dataclass(frozen=True, kw_only=True)
class CancelBooking(OnBooking):
    reason: str


async def cancel_booking(uow: UnitOfWork, command: CancelBooking) -> Row[Any]:
    """A guest cancels only their own bookings, and not once checked in; staff cancel any of
    their tenant's. A booking whose create saga is still running (or waiting for its payment)
    stops that saga, which gives back what it took; a settled one starts the cancel saga, which
    releases the capacity and refunds what the policy snapshot allows."""
    booking = await target(uow, command)
    if not command.who.is_staff and booking.status == S.CHECKED_IN:
        raise Problem(403, "forbidden", "Forbidden", "A checked-in stay is cancelled by staff.")
    with status_machine():
        current = S(booking.status)
        transition(current, S.CANCELLED)
    # Before confirmation the create saga is still running, or waiting for the payment.
    creating = current in (S.PENDING, S.AWAITING_PAYMENT)
    saga = await uow.active_saga(booking.id)
    if saga is not None and not creating:
        raise busy()
    cancelled = await uow.move(
        booking,
        S.CANCELLED,
        command.actor,
        reason=command.reason,
        fields={"cancel_reason": command.reason, "cancelled_by": command.actor.subject},
    )
    if not creating:
        data = replace(uow.saga_data(cancelled), cancelled_at=cancelled.cancelled_at)
        await uow.start_saga(cancelled.id, CANCEL_BOOKING, data)
    elif saga is not None:  # it stops and gives back what it took (refunded if a transfer came)
        await uow.advance(saga, abort(saga.state, CANCELLED))
    return cancelled
