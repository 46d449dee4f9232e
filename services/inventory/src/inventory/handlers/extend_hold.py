"""ExtendHold → HoldExtended | HoldExtensionRefused."""

from __future__ import annotations

from datetime import timedelta

from contracts.inventory import ExtendHold, HoldExtended, HoldExtensionRefused
from contracts.topics import BOOKING_SAGA_REPLIES
from inventory.adapters.ledger import Ledger, saga_claim
from messaging.runner import HandlerContext
from service_kit.clock import db_now

MAX_EXTENSION = timedelta(hours=24)


def handler(ledger: Ledger):
    async def extend_hold(ctx: HandlerContext, cmd: ExtendHold) -> None:
        claim = await saga_claim(
            ctx.conn, cmd.booking_id, cmd.reservation_id, cmd.booking_id, cmd.tenant_id
        )
        reply: HoldExtended | HoldExtensionRefused
        if claim is None:
            reply = HoldExtensionRefused(
                booking_id=cmd.booking_id,
                step=cmd.step,
                reservation_id=cmd.reservation_id,
                reason="reservation_not_found",
            )
        else:
            by = min(timedelta(seconds=max(cmd.seconds, 0)), MAX_EXTENSION)
            until = await ledger.extend(ctx.conn, claim, await db_now(ctx.conn), by)
            if until is None:
                reply = HoldExtensionRefused(
                    booking_id=cmd.booking_id,
                    step=cmd.step,
                    reservation_id=claim.id,
                    reason=f"reservation_{claim.status}",
                )
            else:
                reply = HoldExtended(
                    booking_id=cmd.booking_id,
                    step=cmd.step,
                    reservation_id=claim.id,
                    expires_at=until,
                )
        await ctx.emit(BOOKING_SAGA_REPLIES, cmd.booking_id, reply)

    return extend_hold
