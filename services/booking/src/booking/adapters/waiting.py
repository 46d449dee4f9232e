"""``Prefer: wait``: a request that waits for its booking's answer is woken by the database
(a trigger notifies ``booking_status`` with the booking's id when its status changes; one
LISTEN connection per web process) rather than polling it.

Waiting is bounded: at most ``max_waiters`` requests of a process wait at once (one more
answers at once with the booking as it stands, as if it had not asked to wait), and each at
most its ``wait`` seconds. While the LISTEN connection is down, waiters look again every half
second, so a lost notification costs latency, never an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from prometheus_client import Gauge

log = logging.getLogger(__name__)

CHANNEL = "booking_status"
FALLBACK_POLL_S = 0.5
WAITERS = Gauge("booking_prefer_waiters", "Requests waiting for their booking's answer")


class StatusWaiters:
    def __init__(
        self, connect: Callable[[], Awaitable[asyncpg.Connection]], max_waiters: int
    ) -> None:
        self._connect = connect
        self._slots = asyncio.Semaphore(max_waiters)
        self._events: dict[str, set[asyncio.Event]] = {}
        self._listener: asyncpg.Connection | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._lost = asyncio.Event()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, booking_id: str) -> None:
        for event in self._events.get(booking_id, ()):
            event.set()

    def _on_lost(self, _conn: Any) -> None:
        self._listening.clear()
        self._lost.set()

    async def _keep_listening(self) -> None:
        delay = 0.5
        while True:
            try:
                self._lost.clear()
                conn = await self._connect()
                conn.add_termination_listener(self._on_lost)
                await conn.add_listener(CHANNEL, self._on_notify)
                self._listener = conn
                self._listening.set()
                delay = 0.5
                await self._lost.wait()  # the connection ended; listen again
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._listening.clear()
                log.warning("booking status listener down (%s); retrying", type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _start(self) -> None:
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep_listening())

    async def wait(
        self,
        booking_id: str,
        wait_s: float,
        look: Callable[[], Awaitable[Any]],
        done: Callable[[Any], bool],
    ) -> Any:
        """``look()`` until ``done`` of what it returns, for up to ``wait_s``: again whenever the
        booking's status changes. Returns the last look. With every slot taken, looks once."""
        if self._slots.locked():
            return await look()
        self._start()
        deadline = time.monotonic() + wait_s
        event = asyncio.Event()
        async with self._slots:
            WAITERS.inc()
            self._events.setdefault(booking_id, set()).add(event)
            try:
                current = await look()  # after registering: a change from now on wakes us
                while not done(current):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    step = left if self._listening.is_set() else min(left, FALLBACK_POLL_S)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(event.wait(), step)
                    event.clear()
                    current = await look()
                return current
            finally:
                waiting = self._events.get(booking_id)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._events[booking_id]
                WAITERS.dec()

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keeper
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()
