"""ExtendHold → HoldExtended | HoldExtensionRefused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.inventory import ExtendHold, HoldExtended, HoldExtensionRefused
from contracts.topics import BOOKING_SAGA_REPLIES
from inventory.adapters.ledger import Ledger, claim_for_booking
from messaging.runner import HandlerContext

MAX_EXTENSION = timedelta(hours=24)


def handler(ledger: Ledger):
    async def extend_hold(ctx: HandlerContext, cmd: ExtendHold) -> None:
        claim = await claim_for_booking(ctx.conn, cmd.booking_id)
        reply: HoldExtended | HoldExtensionRefused
        if claim is None or claim.id != cmd.reservation_id:
            reply = HoldExtensionRefused(
                booking_id=cmd.booking_id,
                step=cmd.step,
                reservation_id=cmd.reservation_id,
                reason="reservation_not_found",
            )
        else:
            by = min(timedelta(seconds=max(cmd.seconds, 0)), MAX_EXTENSION)
            until = await ledger.extend(ctx.conn, claim, datetime.now(UTC), by)
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
