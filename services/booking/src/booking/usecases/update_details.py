"""Change a booking's contact details and notes: nothing in inventory, pricing or payment
moves, so this is one transaction and one ``booking.updated``. ``If-Match`` is required;
bookings that ended are immutable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row

from booking.domain.booking import IMMUTABLE, BookingStatus
from booking.usecases.commands import OnBooking, target
from booking.usecases.unit_of_work import UnitOfWork
from service_kit.problems import Problem


@dataclass(frozen=True, kw_only=True)
class UpdateDetails(OnBooking):
    """``guest``: the contact fields to change (the rest stay); ``notes``: special requests,
    dietary and accessibility notes to set (``None`` clears one)."""

    guest: dict[str, Any] | None = None
    notes: dict[str, str | None] = field(default_factory=dict)


async def update_details(uow: UnitOfWork, command: UpdateDetails) -> Row[Any]:
    booking = await target(uow, command, versioned=True)
    if BookingStatus(booking.status) in IMMUTABLE:
        raise Problem(
            409,
            "booking-immutable",
            "The booking can no longer change",
            f"A {booking.status} booking is immutable.",
            current_status=booking.status,
        )
    fields: dict[str, Any] = {}
    if command.guest:
        fields["guest"] = {**booking.guest, **command.guest}
    fields |= command.notes
    if not fields:
        raise Problem(422, "nothing-to-change", "Nothing to change")
    changed = tuple(sorted({"guest" if k == "guest" else "notes" for k in fields}))
    return await uow.update(booking, fields, command.actor, changed=changed)
