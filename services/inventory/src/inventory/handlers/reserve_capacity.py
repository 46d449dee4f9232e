"""ReserveCapacity → CapacityReserved | CapacityReservationRejected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.inventory import CapacityReservationRejected, CapacityReserved, ReserveCapacity
from contracts.topics import BOOKING_SAGA_REPLIES
from inventory.adapters.ledger import Ledger
from inventory.domain.resources import InventoryRuleBroken
from messaging.runner import HandlerContext


def handler(ledger: Ledger, hold_ttl_s: float):
    async def reserve_capacity(ctx: HandlerContext, cmd: ReserveCapacity) -> None:
        def rejected(reason: str, detail: str) -> CapacityReservationRejected:
            return CapacityReservationRejected(
                booking_id=cmd.booking_id, step=cmd.step, reason=reason, detail=detail
            )

        try:
            if cmd.slot_id is not None:
                claim = await ledger.claim_slot(
                    ctx.conn,
                    slot_id=cmd.slot_id,
                    quantity=cmd.party_size or cmd.quantity,
                    now=datetime.now(UTC),
                    ttl=timedelta(seconds=hold_ttl_s),
                    booking_id=cmd.booking_id,
                    resource_id=cmd.resource_id,
                )
            else:
                claim = await ledger.claim(
                    ctx.conn,
                    booking_id=cmd.booking_id,
                    resource_id=cmd.resource_id,
                    check_in=cmd.period.check_in,
                    check_out=cmd.period.check_out,
                    quantity=cmd.quantity,
                    party_size=cmd.party_size,
                    now=datetime.now(UTC),
                    ttl=timedelta(seconds=hold_ttl_s),
                )
        except InventoryRuleBroken as broken:
            reply: CapacityReserved | CapacityReservationRejected = rejected(
                broken.code, str(broken)
            )
        else:
            if claim.active:
                reply = CapacityReserved(
                    booking_id=cmd.booking_id,
                    step=cmd.step,
                    reservation_id=claim.id,
                    resource_id=claim.resource_id,
                    expires_at=claim.expires_at,
                )
            else:  # a retry after this booking's claim ended: never claim twice for one booking
                reply = rejected(f"reservation_{claim.status}", f"the claim was {claim.status}")
        await ctx.emit(BOOKING_SAGA_REPLIES, cmd.booking_id, reply)

    return reserve_capacity
