"""ReleaseCapacity (compensation) → CapacityReleased. Always succeeds; releasing twice, or a
claim that already expired, gives nothing back twice."""

from __future__ import annotations

from contracts.inventory import CapacityReleased, ReleaseCapacity
from contracts.topics import BOOKING_SAGA_REPLIES
from inventory.adapters.ledger import Ledger, saga_claim
from messaging.runner import HandlerContext


def handler(ledger: Ledger):
    async def release_capacity(ctx: HandlerContext, cmd: ReleaseCapacity) -> None:
        claim = await saga_claim(
            ctx.conn, cmd.booking_id, cmd.reservation_id, cmd.key, cmd.tenant_id
        )
        if claim is not None:
            await ledger.release(ctx.conn, claim, "saga_compensation")
        await ctx.emit(
            BOOKING_SAGA_REPLIES,
            cmd.booking_id,
            CapacityReleased(
                booking_id=cmd.booking_id,
                step=cmd.step,
                reservation_id=claim.id if claim else cmd.reservation_id,
            ),
        )

    return release_capacity
