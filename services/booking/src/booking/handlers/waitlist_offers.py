"""The waitlist's moving parts: capacity released anywhere (``inventory.capacity_released``:
a cancellation, a modification's old dates, an expired hold or offer) is offered to the waiting
entries it could serve; inventory's answers to those hold requests make offers; offers not
accepted in time expire (see ``booking.adapters.waitlist``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from booking.adapters import waitlist
from contracts.inventory import CapacityReleasedEvent
from messaging.jobs import ItemSweep, periodic
from messaging.outbox import Outbox
from messaging.runner import HandlerContext
from service_kit.clock import db_now


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
    """Each offer expires in a transaction of its own; one that keeps failing is set aside."""

    async def expire(conn: AsyncConnection, entry_id: str) -> bool:
        return await waitlist.expire_offer(conn, outbox, entry_id, await db_now(conn))

    async def set_aside(conn: AsyncConnection, entry_id: str, exc: Exception) -> None:
        await waitlist.set_expiry_aside(conn, entry_id, f"expiry failed: {type(exc).__name__}")

    offers = ItemSweep("waitlist-offer-expiry", key=str, work=expire, park=set_aside)

    async def tick() -> bool:
        async with engine.connect() as conn:
            due = await waitlist.due_offers(conn, await db_now(conn))
        return await offers.run(engine, due) > 0

    return periodic("waitlist-offer-expiry", interval_s, tick)
