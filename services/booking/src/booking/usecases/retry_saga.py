"""Staff resume a parked saga (a compensation or step that kept failing) by sending the step it
stopped on again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from booking.domain.saga_engine import retry_parked
from booking.usecases.commands import OnBooking, target
from booking.usecases.unit_of_work import UnitOfWork
from service_kit.problems import Problem


@dataclass(frozen=True, kw_only=True)
class RetrySaga(OnBooking):
    pass


async def retry_parked_saga(uow: UnitOfWork, command: RetrySaga) -> Row[Any]:
    booking = await target(uow, command)
    saga = await uow.active_saga(booking.id)
    decision = retry_parked(saga.state) if saga else None
    if saga is None or decision is None or decision.ignored:
        raise Problem(409, "not-parked", "Nothing to retry", "No saga of it is parked.")
    await uow.advance(saga, decision)
    await uow.audit(booking, "saga_retry", command.actor)
    return booking
