"""Cancels payments whose guest did not act in time, by the database's clock, then has the
provider void them. Runs in every payment worker replica.

Each payment is handled in a transaction of its own (``messaging.jobs.ItemSweep``): one that
raises rolls back alone, and after three rounds it is set aside with its error. The provider is
called outside the transaction that cancels the payment (which holds its row lock): the cancel
commits with a ``void_pending`` mark, and a second sweep calls the provider and clears it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from messaging import failpoints
from messaging.jobs import ItemSweep, periodic
from payment.adapters.desk import PaymentDesk
from payment.adapters.repository import PaymentRow
from service_kit.clock import db_now

log = logging.getLogger(__name__)


def _why(exc: Exception) -> str:
    return f"expiry failed: {type(exc).__name__}"


def job(engine: AsyncEngine, desk: PaymentDesk, interval_s: float) -> Callable[[], Awaitable[None]]:
    async def expire(conn: AsyncConnection, payment_id: str) -> bool:
        done = await desk.expire_unpaid(conn, payment_id, await db_now(conn))
        failpoints.hit(failpoints.SWEEPER_BEFORE_COMMIT, f"payment-expiry:{payment_id}")
        return done

    async def set_aside(conn: AsyncConnection, payment_id: str, exc: Exception) -> None:
        await desk.set_expiry_aside(conn, payment_id, _why(exc))

    async def set_void_aside(conn: AsyncConnection, p: PaymentRow, exc: Exception) -> None:
        await desk.set_expiry_aside(conn, p.id, _why(exc))

    expiries = ItemSweep("payment-expiry", key=str, work=expire, park=set_aside)
    voids = ItemSweep(
        "payment-expiry-void", key=lambda p: p.id, work=desk.finish_void, park=set_void_aside
    )

    async def tick() -> bool:
        async with engine.connect() as conn:
            due = await desk.due_unpaid(conn, await db_now(conn))
        expired = await expiries.run(engine, due)
        async with engine.connect() as conn:
            pending = await desk.void_pending_payments(conn)
        voided = await voids.run(engine, pending)
        if expired:
            log.info("canceled %d payments past their deadline", expired)
        return expired + voided > 0

    return periodic("payment-expiry", interval_s, tick)
