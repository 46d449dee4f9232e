"""ConfirmReservation → ReservationConfirmed | ReservationConfirmationFailed."""

from __future__ import annotations

from contracts.inventory import (
    ConfirmReservation,
    ReservationConfirmationFailed,
    ReservationConfirmed,
)
from contracts.topics import BOOKING_SAGA_REPLIES
from inventory.adapters.ledger import Ledger, saga_claim
from messaging.runner import HandlerContext


def handler(ledger: Ledger):
    async def confirm_reservation(ctx: HandlerContext, cmd: ConfirmReservation) -> None:
        claim = await saga_claim(
            ctx.conn, cmd.booking_id, cmd.reservation_id, cmd.booking_id, cmd.tenant_id
        )
        reply: ReservationConfirmed | ReservationConfirmationFailed
        if claim is None:
            reply = ReservationConfirmationFailed(
                booking_id=cmd.booking_id,
                step=cmd.step,
                reservation_id=cmd.reservation_id,
                reason="reservation_not_found",
            )
        elif await ledger.confirm(ctx.conn, claim):
            reply = ReservationConfirmed(
                booking_id=cmd.booking_id, step=cmd.step, reservation_id=claim.id
            )
        else:
            reply = ReservationConfirmationFailed(
                booking_id=cmd.booking_id,
                step=cmd.step,
                reservation_id=claim.id,
                reason=f"reservation_{claim.status}",
            )
        await ctx.emit(BOOKING_SAGA_REPLIES, cmd.booking_id, reply)

    return confirm_reservation
