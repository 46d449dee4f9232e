"""Releases held claims past their expiry (holds and unconfirmed saga reservations), by the
database's clock.

Runs in every inventory worker replica; ``FOR UPDATE SKIP LOCKED`` gives each claim to one.
Each claim expires in a transaction of its own (``messaging.jobs.ItemSweep``): one that raises
rolls back alone, and after three rounds it is set aside with its error.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inventory.adapters.ledger import Ledger
from messaging import failpoints
from messaging.jobs import ItemSweep, periodic
from service_kit.clock import db_now

log = logging.getLogger(__name__)


def sweep(ledger: Ledger, now: datetime | None = None) -> ItemSweep[str]:
    """``now``: a fixed time instead of the database's (tests)."""

    async def expire(conn: AsyncConnection, claim_id: str) -> bool:
        expired = await ledger.expire_claim(conn, claim_id, now or await db_now(conn))
        failpoints.hit(failpoints.SWEEPER_BEFORE_COMMIT, f"claim-expiry:{claim_id}")
        return expired

    async def set_aside(conn: AsyncConnection, claim_id: str, exc: Exception) -> None:
        await ledger.set_expiry_aside(conn, claim_id, f"expiry failed: {type(exc).__name__}")

    return ItemSweep("claim-expiry", key=str, work=expire, park=set_aside)


async def expire_once(
    engine: AsyncEngine, items: ItemSweep[str], limit: int = 200, now: datetime | None = None
) -> int:
    """One round over the claims due now. Each replica takes them in its own random order, so
    replicas working at once mostly take different claims (a claim another replica holds is
    skipped, one it expired is no longer due)."""
    async with engine.connect() as conn:
        due = await Ledger.due_for_expiry(conn, now or await db_now(conn), limit)
    random.shuffle(due)
    return await items.run(engine, due)


def job(engine: AsyncEngine, ledger: Ledger, interval_s: float) -> Callable[[], Awaitable[None]]:
    items = sweep(ledger)

    async def tick() -> bool:
        expired = await expire_once(engine, items)
        if expired:
            log.info("expired %d claims", expired)
        return expired > 0

    return periodic("claim-expiry", interval_s, tick)
