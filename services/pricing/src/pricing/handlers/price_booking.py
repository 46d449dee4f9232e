"""PriceBooking → BookingPriced | BookingPricingFailed. Idempotent per booking: one quote."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import text

from contracts.base import Money
from contracts.pricing import BookingPriced, BookingPricingFailed, PriceBooking
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging.runner import HandlerContext
from pricing.domain.money import NoRatePlan, PricingRuleBroken, quote_stay


async def price_booking(ctx: HandlerContext, cmd: PriceBooking) -> None:
    existing = (
        await ctx.conn.execute(
            text(
                "SELECT id::text, nights, nightly_rate, total, currency FROM quotes "
                "WHERE booking_id = :b"
            ),
            {"b": cmd.booking_id},
        )
    ).first()
    if existing is not None:
        reply: BookingPriced | BookingPricingFailed = _priced(cmd, *existing)
    else:
        try:
            plan = (
                await ctx.conn.execute(
                    text(
                        "SELECT id::text, currency, nightly_rate FROM rate_plans "
                        "WHERE resource_id = :r AND active ORDER BY created_at DESC LIMIT 1"
                    ),
                    {"r": cmd.resource_id},
                )
            ).first()
            if plan is None:
                raise NoRatePlan(f"no active rate plan for resource {cmd.resource_id}")
            quote = quote_stay(cmd.period.nights, plan.nightly_rate, plan.currency)
        except PricingRuleBroken as broken:
            reply = BookingPricingFailed(
                booking_id=cmd.booking_id, step=cmd.step, reason=broken.code, detail=str(broken)
            )
        else:
            quote_id = str(uuid.uuid4())
            await ctx.conn.execute(
                text(
                    "INSERT INTO quotes (id, booking_id, rate_plan_id, nights, nightly_rate, total, "
                    "currency) VALUES (:id, :b, :p, :n, :r, :t, :c)"
                ),
                {
                    "id": quote_id,
                    "b": cmd.booking_id,
                    "p": plan.id,
                    "n": quote.nights,
                    "r": quote.nightly_rate,
                    "t": quote.total,
                    "c": quote.currency,
                },
            )
            reply = _priced(
                cmd, quote_id, quote.nights, quote.nightly_rate, quote.total, quote.currency
            )
    await ctx.emit(BOOKING_SAGA_REPLIES, cmd.booking_id, reply)


def _priced(
    cmd: PriceBooking, quote_id: str, nights: int, rate: Decimal, total: Decimal, currency: str
) -> BookingPriced:
    return BookingPriced(
        booking_id=cmd.booking_id,
        step=cmd.step,
        quote_id=quote_id,
        nights=nights,
        nightly_rate=Money.of(rate, currency),
        total=Money.of(total, currency),
    )
