"""Releases held claims past their expiry (holds and unconfirmed saga reservations).

Runs in every inventory worker replica; ``FOR UPDATE SKIP LOCKED`` gives each claim to one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from inventory.adapters.ledger import Ledger
from messaging.jobs import periodic

log = logging.getLogger(__name__)


async def expire_once(engine: AsyncEngine, ledger: Ledger, limit: int = 200) -> int:
    async with engine.begin() as conn:
        return await ledger.expire_due(conn, datetime.now(UTC), limit)


def job(engine: AsyncEngine, ledger: Ledger, interval_s: float) -> Callable[[], Awaitable[None]]:
    async def tick() -> bool:
        expired = await expire_once(engine, ledger)
        if expired:
            log.info("expired %d claims", expired)
        return expired > 0

    return periodic("claim-expiry", interval_s, tick)
