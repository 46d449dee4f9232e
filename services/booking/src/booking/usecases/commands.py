"""What every command on an existing booking names: the booking, who asks (for tenancy and
ownership), who acts (for the audit trail) and, optionally, the version they read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from booking.usecases.rules import check_if_match
from booking.usecases.unit_of_work import UnitOfWork
from service_kit.audit import Actor
from service_kit.auth import Principal


@dataclass(frozen=True, kw_only=True)
class OnBooking:
    booking_id: str
    who: Principal
    actor: Actor
    if_match: str | None = None  # an ETag the booking must still have (412 otherwise)


async def target(uow: UnitOfWork, command: OnBooking, *, versioned: bool = False) -> Row[Any]:
    """The booking ``command`` acts on, locked and at the version it names (``versioned``: it
    must name one, 428 otherwise)."""
    booking = await uow.booking(command.booking_id, command.who)
    check_if_match(command.if_match, booking, required=versioned)
    return booking
