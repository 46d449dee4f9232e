"""QuoteRefund → RefundQuoted | RefundQuoteFailed: what a cancellation refunds, from the
booking's quote (its cancellation policy snapshot), never from the plan's current policy.
A read: the same command always gets the same answer."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import text

from contracts.base import Money
from contracts.pricing import QuoteRefund, RefundQuoted, RefundQuoteFailed
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging.runner import HandlerContext
from pricing.adapters.quoting import policy_of
from pricing.domain.money import PricingRuleBroken
from pricing.domain.quotes import refund_quote
from service_kit.ids import canonical_uuid


async def quote_refund(ctx: HandlerContext, cmd: QuoteRefund) -> None:
    row = None
    if canonical_uuid(cmd.quote_id):
        row = (
            await ctx.conn.execute(
                text(
                    "SELECT id::text, booking_id, total, currency, doc FROM quotes "
                    "WHERE id = CAST(:id AS uuid) "
                    "AND (CAST(:t AS text) IS NULL OR tenant_id = :t)"
                ),
                {"id": cmd.quote_id, "t": cmd.tenant_id},
            )
        ).first()

    def failed(reason: str) -> RefundQuoteFailed:
        return RefundQuoteFailed(
            booking_id=cmd.booking_id, step=cmd.step, quote_id=cmd.quote_id, reason=reason
        )

    reply: RefundQuoted | RefundQuoteFailed
    if row is None or row.booking_id != cmd.booking_id:
        reply = failed("quote_not_found")
    elif cmd.paid.currency != row.currency or cmd.paid.amount > Decimal(row.total):
        reply = failed("paid_does_not_match_quote")
    else:
        try:
            result = refund_quote(
                policy_of(row.doc),
                paid=cmd.paid.amount,
                currency=row.currency,
                starts_at=cmd.starts_at,
                now=cmd.cancelled_at,
            )
        except PricingRuleBroken as broken:
            reply = failed(broken.code)
        else:
            reply = RefundQuoted(
                booking_id=cmd.booking_id,
                step=cmd.step,
                quote_id=row.id,
                refund=Money.of(result.refundable, row.currency),
                refund_percent=result.refund_percent,
                hours_before_start=result.hours_before_start,
            )
    await ctx.emit(BOOKING_SAGA_REPLIES, cmd.booking_id, reply)
