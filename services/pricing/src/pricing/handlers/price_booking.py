"""PriceBooking → BookingPriced | BookingPricingFailed. Idempotent per quote key (the booking,
or a booking's later pricing): one quote, and a redelivered command gets the same reply from the
stored quote.

Only the booking's tenant's plans price it (the command's ``tenant_id``): a plan another tenant
made for the same resource id or venue name never applies. A command without a tenant (sent by
an orchestrator older than tenant-scoped commands, during a rolling upgrade) is priced only by a
plan made for that very resource, never by a venue's plan (``quoting.plan_in_force``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from contracts.base import Money
from contracts.pricing import (
    BookingPriced,
    BookingPricingFailed,
    PriceBooking,
    QuoteLine,
    RefundTier,
)
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging.runner import HandlerContext
from pricing.adapters.quoting import price_and_store
from pricing.domain.money import PricingRuleBroken
from pricing.domain.quotes import PartyMix, Stay, Window
from service_kit.clock import db_now


async def price_booking(ctx: HandlerContext, cmd: PriceBooking) -> None:
    existing = (
        await ctx.conn.execute(
            text(
                "SELECT id::text, nights, nightly_rate, total, currency, doc, valid_until "
                "FROM quotes WHERE quote_key = :k "
                "AND (CAST(:t AS text) IS NULL OR tenant_id = :t)"
            ),
            {"k": cmd.key, "t": cmd.tenant_id},
        )
    ).first()
    reply: BookingPriced | BookingPricingFailed
    if existing is not None:
        reply = _priced(cmd, *existing)
    else:
        try:
            stored = await price_and_store(
                ctx.conn,
                resource_id=cmd.resource_id,
                venue_id=cmd.venue_id,
                tenant=cmd.tenant_id,
                party=PartyMix(cmd.party.adults, cmd.party.children, cmd.party.infants),
                stay=Stay(cmd.period.check_in, cmd.period.check_out) if cmd.period else None,
                window=Window(cmd.window.starts_at, cmd.window.ends_at, cmd.window.timezone)
                if cmd.window
                else None,
                now=await db_now(ctx.conn),
                booking_id=cmd.booking_id,
                quote_key=cmd.key,
            )
        except PricingRuleBroken as broken:
            reply = BookingPricingFailed(
                booking_id=cmd.booking_id, step=cmd.step, reason=broken.code, detail=str(broken)
            )
        else:
            reply = _priced(
                cmd,
                stored.id,
                stored.nights,
                stored.nightly_rate,
                stored.priced.total,
                stored.priced.currency,
                stored.doc,
                stored.valid_until,
            )
    await ctx.emit(BOOKING_SAGA_REPLIES, cmd.booking_id, reply)


def _priced(
    cmd: PriceBooking,
    quote_id: str,
    nights: int,
    rate: Decimal | None,
    total: Decimal,
    currency: str,
    doc: dict[str, Any] | None,
    valid_until: datetime | None,
) -> BookingPriced:
    doc = doc or {}
    return BookingPriced(
        booking_id=cmd.booking_id,
        step=cmd.step,
        quote_id=quote_id,
        nights=nights,
        nightly_rate=Money.of(rate, currency) if rate is not None else None,
        total=Money.of(total, currency),
        subtotal=Money.of(Decimal(doc["subtotal"]), currency) if "subtotal" in doc else None,
        taxes=Money.of(Decimal(doc["taxes"]), currency) if "taxes" in doc else None,
        lines=tuple(QuoteLine(**ln) for ln in doc.get("lines", ())),
        cancellation_policy=tuple(RefundTier(**t) for t in doc.get("cancellation_policy", ())),
        valid_until=valid_until,
    )
