"""ReserveCapacity → CapacityReserved | CapacityReservationRejected."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.inventory import CapacityReservationRejected, CapacityReserved, ReserveCapacity
from contracts.topics import BOOKING_SAGA_REPLIES
from inventory.adapters.ledger import Claim, Ledger, claim_by_key, replaced_claim
from inventory.domain.resources import InventoryRuleBroken
from messaging.runner import HandlerContext
from service_kit.clock import db_now


async def _claim(
    ledger: Ledger, conn: AsyncConnection, cmd: ReserveCapacity, ttl: timedelta
) -> Claim:
    """The claim for this command's key: the one made before (a redelivery), the hold the
    booking names, or a new one."""
    existing = await claim_by_key(conn, cmd.key, tenant=cmd.tenant_id)
    if existing is not None:
        return existing
    now = await db_now(conn)
    quantity = cmd.party_size or cmd.quantity if cmd.slot_id is not None else cmd.quantity
    if cmd.hold_id is not None:
        adopted = await ledger.adopt_hold(
            conn,
            hold_id=cmd.hold_id,
            booking_id=cmd.booking_id,
            claim_key=cmd.key,
            resource_id=cmd.resource_id,
            check_in=cmd.period.check_in,
            check_out=cmd.period.check_out,
            slot_id=cmd.slot_id,
            quantity=quantity,
            holder=cmd.holder,
            tenant=cmd.tenant_id,
            now=now,
            ttl=ttl,
        )
        if adopted is not None:
            return adopted
    replaces = await replaced_claim(conn, cmd.booking_id, cmd.replaces)
    owner = None if cmd.hold_only else cmd.booking_id  # a waitlist offer is a guest's hold
    holder = cmd.holder if cmd.hold_only else None
    if cmd.slot_id is not None:
        return await ledger.claim_slot(
            conn,
            slot_id=cmd.slot_id,
            quantity=quantity,
            now=now,
            ttl=ttl,
            booking_id=owner,
            holder=holder,
            claim_key=cmd.key,
            resource_id=cmd.resource_id,
            tenant=cmd.tenant_id,
            replaces=replaces,
        )
    return await ledger.claim(
        conn,
        booking_id=owner,
        holder=holder,
        claim_key=cmd.key,
        resource_id=cmd.resource_id,
        check_in=cmd.period.check_in,
        check_out=cmd.period.check_out,
        quantity=cmd.quantity,
        party_size=cmd.party_size,
        now=now,
        ttl=ttl,
        tenant=cmd.tenant_id,
        replaces=replaces,
    )


def handler(ledger: Ledger, hold_ttl_s: float):
    async def reserve_capacity(ctx: HandlerContext, cmd: ReserveCapacity) -> None:
        reply: CapacityReserved | CapacityReservationRejected
        ttl = timedelta(seconds=cmd.hold_seconds or hold_ttl_s)
        try:
            claim = await _claim(ledger, ctx.conn, cmd, ttl)
        except InventoryRuleBroken as broken:
            reply = CapacityReservationRejected(
                booking_id=cmd.booking_id, step=cmd.step, reason=broken.code, detail=str(broken)
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
            else:  # a retry after this claim ended: never claim twice for one key
                reply = CapacityReservationRejected(
                    booking_id=cmd.booking_id,
                    step=cmd.step,
                    reason=f"reservation_{claim.status}",
                    detail=f"the claim was {claim.status}",
                )
        await ctx.emit(BOOKING_SAGA_REPLIES, cmd.booking_id, reply)

    return reserve_capacity
