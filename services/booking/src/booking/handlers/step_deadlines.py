"""A step that got no reply before its deadline is resent, failed, or parked; a payment that
waited past its deadline ends the wait.

Runs in every booking worker replica; ``FOR UPDATE SKIP LOCKED`` on the booking hands each due
saga to one (and leaves it to a request or reply that holds the booking right now).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from booking.adapters import orchestrator, repository
from booking.adapters.orchestrator import Timing
from booking.domain.saga import on_timeout
from messaging import logcontext, tracing
from messaging.jobs import periodic
from messaging.outbox import Outbox

log = logging.getLogger(__name__)


async def sweep_once(
    engine: AsyncEngine, outbox: Outbox, *, timing: Timing, max_attempts: int, limit: int = 100
) -> int:
    async with engine.begin() as conn:
        due = await repository.due_sagas(conn, limit)
        handled = 0
        for saga_id, booking_id in due:
            saga = await repository.lock_due(conn, saga_id, booking_id)
            if saga is None:
                continue
            handled += 1
            with logcontext.scope(), tracing.span(None, "saga step deadline"):
                decision = on_timeout(saga.state, max_attempts)
                await orchestrator.apply(conn, outbox, saga, decision, timing)
        return handled


def job(
    engine: AsyncEngine, outbox: Outbox, *, timing: Timing, max_attempts: int, interval_s: float
) -> Callable[[], Awaitable[None]]:
    async def tick() -> bool:
        handled = await sweep_once(engine, outbox, timing=timing, max_attempts=max_attempts)
        if handled:
            log.info("handled %d sagas past their step deadline", handled)
        return handled > 0

    return periodic("saga-step-deadlines", interval_s, tick)
