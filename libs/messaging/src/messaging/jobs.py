"""Periodic background jobs of a worker process (sweepers, purges), written once.

A job returns True when it found work and may have more (run again at once) and False when it
is idle (sleep ``interval_s``). A failure is logged and retried on the next tick: a background
job never dies of one bad round. Jobs must be safe to run in several replicas at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


def periodic(
    name: str, interval_s: float, tick: Callable[[], Awaitable[bool]]
) -> Callable[[], Awaitable[None]]:
    async def run_forever() -> None:
        while True:
            try:
                if await tick():
                    continue
            except Exception:
                log.exception("background job %s failed; retrying in %.1fs", name, interval_s)
            await asyncio.sleep(interval_s)

    run_forever.__name__ = run_forever.__qualname__ = name
    return run_forever
