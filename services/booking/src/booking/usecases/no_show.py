"""The guest did not come: ``confirmed`` → ``no_show``, only after the start. The capacity left
is released by the no-show saga; the payment is kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from booking.domain.booking import BookingStatus, NotYetStarted, check_no_show, transition
from booking.domain.sagas import NO_SHOW
from booking.usecases.commands import target
from booking.usecases.rules import busy, status_machine
from booking.usecases.transitions import StatusAction
from booking.usecases.unit_of_work import UnitOfWork
from service_kit.problems import Problem


@dataclass(frozen=True, kw_only=True)
class MarkNoShow(StatusAction):
    pass


async def mark_no_show(uow: UnitOfWork, command: MarkNoShow) -> Row[Any]:
    booking = await target(uow, command)
    with status_machine():
        transition(BookingStatus(booking.status), BookingStatus.NO_SHOW)
    if booking.starts_at is not None:
        try:
            check_no_show(booking.starts_at, await uow.now())
        except NotYetStarted as exc:
            raise Problem(409, "not-started", "The booking has not started", str(exc)) from None
    if await uow.active_saga(booking.id) is not None:
        raise busy()
    moved = await uow.move(booking, BookingStatus.NO_SHOW, command.actor, reason=command.reason)
    await uow.start_saga(moved.id, NO_SHOW, uow.saga_data(moved))
    return moved
