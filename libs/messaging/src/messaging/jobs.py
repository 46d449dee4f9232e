"""Periodic background jobs of a worker process (sweepers, purges), written once.

A job returns True when it found work and may have more (run again at once) and False when it
is idle (sleep ``interval_s``). A failure is logged and retried on the next tick: a background
job never dies of one bad round. Jobs must be safe to run in several replicas at once.

A sweep over many items (due sagas, expired claims, unpaid payments) handles each item in a
transaction of its own (``ItemSweep``): one item that raises rolls back only itself, and the
others proceed. An item that keeps failing is parked with its error (the job says how) and
counted, so it neither blocks the sweep nor retries for ever unseen. A transient failure (the
database is away) ends the round: nothing is charged to the item, the next tick tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from messaging import tenancy
from messaging.errors import is_transient

log = logging.getLogger(__name__)

T = TypeVar("T")

SWEEP_FAILURES = Counter(
    "sweep_item_failures_total", "Items of a periodic job that raised (rolled back alone)", ["job"]
)
SWEEP_PARKED = Counter(
    "sweep_items_parked_total", "Items a periodic job set aside after failing repeatedly", ["job"]
)


def periodic(
    name: str,
    interval_s: float,
    tick: Callable[[], Awaitable[bool]],
    *,
    finally_: Callable[[], Awaitable[None]] | None = None,
) -> Callable[[], Awaitable[None]]:
    """``tick`` every ``interval_s`` (again at once while it says it did something);
    ``finally_`` when the job ends (the worker stops), e.g. to close a connection it kept."""

    async def run_forever() -> None:
        # A sweeper, a purge: platform work over every tenant's rows (messaging.tenancy).
        tenancy.act_for(None)
        try:
            while True:
                try:
                    if await tick():
                        continue
                except Exception:
                    log.exception("background job %s failed; retrying in %.1fs", name, interval_s)
                await asyncio.sleep(interval_s)
        finally:
            if finally_ is not None:
                await finally_()

    run_forever.__name__ = run_forever.__qualname__ = name
    return run_forever


@dataclass
class ItemSweep(Generic[T]):
    """One transaction per item; an item failing ``park_after`` rounds running is parked."""

    job: str
    key: Callable[[T], str]
    # Handle one item in the open transaction; True when it did something.
    work: Callable[[AsyncConnection, T], Awaitable[bool]]
    # Set a failing item aside, with its error, in a transaction of its own.
    park: Callable[[AsyncConnection, T, Exception], Awaitable[None]]
    park_after: int = 3
    _failures: dict[str, int] = field(default_factory=dict)

    async def run(self, engine: AsyncEngine, items: Iterable[T]) -> int:
        """Handle ``items``; the number that did something. Raises only a transient failure."""
        done = 0
        for item in items:
            key = self.key(item)
            try:
                async with engine.begin() as conn:
                    if await self.work(conn, item):
                        done += 1
                self._failures.pop(key, None)
            except Exception as exc:
                if is_transient(exc):
                    raise
                await self._failed(engine, item, key, exc)
        return done

    async def _failed(self, engine: AsyncEngine, item: T, key: str, exc: Exception) -> None:
        SWEEP_FAILURES.labels(self.job).inc()
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        log.error("%s: %s failed (%s, %d in a row)", self.job, key, type(exc).__name__, failures)
        if failures < self.park_after:
            return
        async with engine.begin() as conn:
            await self.park(conn, item, exc)
        del self._failures[key]
        SWEEP_PARKED.labels(self.job).inc()
        log.error("%s: %s parked after %d failures", self.job, key, failures)
