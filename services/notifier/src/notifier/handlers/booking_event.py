"""Any ``booking.*`` event → one notification per channel (through the inbox: once)."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from contracts.booking import BookingEvent
from messaging.runner import HandlerContext
from notifier.domain.notifications import intents_for


async def booking_event(ctx: HandlerContext, event: BookingEvent) -> None:
    for intent in intents_for(ctx.envelope.type):
        await ctx.conn.execute(
            text(
                "INSERT INTO notifications (id, event_source, event_id, event_type, booking_id, "
                "channel, template, status) VALUES (:id, :src, :eid, :t, :b, :ch, :tpl, 'recorded') "
                "ON CONFLICT ON CONSTRAINT notifications_once_per_channel DO NOTHING"
            ),
            {
                "id": str(uuid.uuid4()),
                "src": ctx.envelope.source,
                "eid": ctx.envelope.id,
                "t": ctx.envelope.type,
                "b": event.booking_id,
                "ch": intent.channel,
                "tpl": intent.template,
            },
        )
