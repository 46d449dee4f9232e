"""The waitlist's moving parts: capacity released anywhere (``inventory.capacity_released``:
a cancellation, a modification's old dates, an expired hold or offer) is offered to the waiting
entries it could serve; inventory's answers to those hold requests make offers; offers not
accepted in time expire (see ``booking.adapters.waitlist``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from booking.adapters import waitlist
from contracts.inventory import CapacityReleasedEvent
from messaging.jobs import periodic
from messaging.outbox import Outbox
from messaging.runner import HandlerContext


def on_capacity_released(offer_s: float):
    async def capacity_released(ctx: HandlerContext, event: CapacityReleasedEvent) -> None:
        entries = await waitlist.waiting_for(
            ctx.conn, event.resource_id, event.slot_id, event.check_in, event.claimed_until
        )
        await waitlist.ask_for_offers(ctx.conn, ctx.outbox, entries, offer_s)

    return capacity_released


def expiry_job(
    engine: AsyncEngine, outbox: Outbox, interval_s: float
) -> Callable[[], Awaitable[None]]:
    async def tick() -> bool:
        async with engine.begin() as conn:
            return await waitlist.expire_offers(conn, outbox, datetime.now(UTC)) > 0

    return periodic("waitlist-offer-expiry", interval_s, tick)
