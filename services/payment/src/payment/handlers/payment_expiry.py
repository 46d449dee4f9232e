"""Cancels payments whose guest did not act in time. Runs in every payment worker replica."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from messaging.jobs import periodic
from payment.adapters.desk import PaymentDesk

log = logging.getLogger(__name__)


def job(engine: AsyncEngine, desk: PaymentDesk, interval_s: float) -> Callable[[], Awaitable[None]]:
    async def tick() -> bool:
        async with engine.begin() as conn:
            expired = await desk.expire_unpaid(conn, datetime.now(UTC))
        if expired:
            log.info("canceled %d payments past their deadline", expired)
        return expired > 0

    return periodic("payment-expiry", interval_s, tick)
