"""ConfirmReservation → ReservationConfirmed | ReservationConfirmationFailed."""

from __future__ import annotations

from contracts.inventory import (
    ConfirmReservation,
    ReservationConfirmationFailed,
    ReservationConfirmed,
)
from contracts.topics import BOOKING_SAGA_REPLIES
from inventory.adapters import ledger
from messaging.runner import HandlerContext


async def confirm_reservation(ctx: HandlerContext, cmd: ConfirmReservation) -> None:
    reservation = await ledger.reservation_for_booking(ctx.conn, cmd.booking_id)
    if reservation is None or reservation.id != cmd.reservation_id:
        reply: ReservationConfirmed | ReservationConfirmationFailed = ReservationConfirmationFailed(
            booking_id=cmd.booking_id,
            step=cmd.step,
            reservation_id=cmd.reservation_id,
            reason="reservation_not_found",
        )
    elif await ledger.confirm(ctx.conn, reservation):
        reply = ReservationConfirmed(
            booking_id=cmd.booking_id, step=cmd.step, reservation_id=reservation.id
        )
    else:
        reply = ReservationConfirmationFailed(
            booking_id=cmd.booking_id,
            step=cmd.step,
            reservation_id=reservation.id,
            reason=f"reservation_{reservation.status}",
        )
    await ctx.emit(BOOKING_SAGA_REPLIES, cmd.booking_id, reply)
