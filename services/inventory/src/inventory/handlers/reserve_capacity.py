"""ReserveCapacity → CapacityReserved | CapacityReservationRejected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.inventory import CapacityReservationRejected, CapacityReserved, ReserveCapacity
from contracts.topics import BOOKING_SAGA_REPLIES
from inventory.adapters import ledger
from inventory.domain.resources import InventoryRuleBroken
from messaging.runner import HandlerContext


def handler(hold_ttl_s: float):
    async def reserve_capacity(ctx: HandlerContext, cmd: ReserveCapacity) -> None:
        try:
            reservation = await ledger.reserve(
                ctx.conn,
                booking_id=cmd.booking_id,
                resource_id=cmd.resource_id,
                check_in=cmd.period.check_in,
                check_out=cmd.period.check_out,
                quantity=cmd.quantity,
                party_size=cmd.party_size,
                now=datetime.now(UTC),
                hold_ttl=timedelta(seconds=hold_ttl_s),
            )
        except InventoryRuleBroken as broken:
            await ctx.emit(
                BOOKING_SAGA_REPLIES,
                cmd.booking_id,
                CapacityReservationRejected(
                    booking_id=cmd.booking_id, step=cmd.step, reason=broken.code, detail=str(broken)
                ),
            )
            return
        if reservation.status == "released":
            await ctx.emit(
                BOOKING_SAGA_REPLIES,
                cmd.booking_id,
                CapacityReservationRejected(
                    booking_id=cmd.booking_id,
                    step=cmd.step,
                    reason="reservation_released",
                    detail="this booking's reservation was already released",
                ),
            )
            return
        await ctx.emit(
            BOOKING_SAGA_REPLIES,
            cmd.booking_id,
            CapacityReserved(
                booking_id=cmd.booking_id, step=cmd.step, reservation_id=reservation.id
            ),
        )

    return reserve_capacity
