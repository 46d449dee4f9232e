"""Admission control: while more sagas are in flight than the platform can finish in time,
``POST /api/v1/bookings`` answers 503 with ``Retry-After`` (problem+json) instead of
accepting a booking it would only time out.

In flight means running or compensating and not waiting for the guest (a bank transfer may
wait for days, and costs nothing meanwhile). The count is read at most once a second per web
process, so admission costs one small query a second, not one per request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from messaging import tenancy
from service_kit.problems import Problem

IN_FLIGHT = Gauge(
    "sagas_in_flight",
    "Sagas running or compensating and not waiting for the guest (as the "
    "web's admission control last read them)",
)
_COUNT = text(
    "SELECT count(*) FROM sagas WHERE status IN ('running', 'compensating') "
    "AND COALESCE((state->>'waiting')::boolean, false) = false"
)


@dataclass
class Admission:
    engine: AsyncEngine
    max_in_flight: int  # 0: no bound
    retry_after_s: int = 5
    ttl_s: float = 1.0
    _count: int = 0
    _read_at: float = float("-inf")

    async def in_flight(self) -> int:
        now = time.monotonic()
        if now - self._read_at >= self.ttl_s:
            with tenancy.every_tenant():  # the platform's backlog, not this tenant's
                async with self.engine.connect() as conn:
                    self._count = int((await conn.execute(_COUNT)).scalar_one())
            self._read_at = now
            IN_FLIGHT.set(self._count)
        return self._count

    async def admit(self) -> None:
        """Raise 503 while the backlog is past its bound."""
        if self.max_in_flight and await self.in_flight() >= self.max_in_flight:
            raise Problem(
                503,
                "overloaded",
                "Too many bookings in progress",
                "The platform is finishing the bookings it has; try again shortly.",
                headers={"Retry-After": str(self.retry_after_s)},
            )
