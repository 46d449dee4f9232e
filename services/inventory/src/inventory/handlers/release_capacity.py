"""ReleaseCapacity (compensation) → CapacityReleased. Always succeeds; releasing twice is a no-op."""

from __future__ import annotations

from contracts.inventory import CapacityReleased, ReleaseCapacity
from contracts.topics import BOOKING_SAGA_REPLIES
from inventory.adapters import ledger
from messaging.runner import HandlerContext


async def release_capacity(ctx: HandlerContext, cmd: ReleaseCapacity) -> None:
    reservation = await ledger.reservation_for_booking(ctx.conn, cmd.booking_id)
    if reservation is not None:
        await ledger.release(ctx.conn, reservation)
    await ctx.emit(
        BOOKING_SAGA_REPLIES,
        cmd.booking_id,
        CapacityReleased(
            booking_id=cmd.booking_id,
            step=cmd.step,
            reservation_id=reservation.id if reservation else cmd.reservation_id,
        ),
    )
