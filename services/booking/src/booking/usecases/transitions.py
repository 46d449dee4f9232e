"""Status actions that are only a transition of the booking: nothing to do in other services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from booking.domain.booking import BookingStatus
from booking.usecases.commands import OnBooking, target
from booking.usecases.rules import status_machine
from booking.usecases.unit_of_work import UnitOfWork


@dataclass(frozen=True, kw_only=True)
class StatusAction(OnBooking):
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class CheckIn(StatusAction):
    """Staff: the guest arrived (``confirmed`` → ``checked_in``)."""


@dataclass(frozen=True, kw_only=True)
class Complete(StatusAction):
    """Staff: the stay or visit is over (``checked_in`` → ``completed``, immutable)."""


WANTED: dict[type[StatusAction], BookingStatus] = {
    CheckIn: BookingStatus.CHECKED_IN,
    Complete: BookingStatus.COMPLETED,
}


async def move(uow: UnitOfWork, command: CheckIn | Complete) -> Row[Any]:
    booking = await target(uow, command)
    with status_machine():
        return await uow.move(booking, WANTED[type(command)], command.actor, reason=command.reason)
