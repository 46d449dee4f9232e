"""Admission control: while more sagas are in flight than the platform can finish in time,
``POST /api/v1/bookings`` answers 503 with ``Retry-After`` (problem+json) instead of
accepting a booking it would only time out.

In flight means running or compensating and not waiting for the guest (a bank transfer may
wait for days, and costs nothing meanwhile). Two bounds, either refuses:

* ``max_in_flight``: how many may be in flight at all (a hard cap on the backlog);
* ``max_late``: how many may have been in flight for longer than ``late_after_s`` (by the
  database's clock). This one follows the platform's capacity, whatever the hardware: offered
  more than it confirms, the backlog's age grows and the excess is refused within seconds,
  while a few stuck sagas (a step waiting out its deadline) never hold back everyone else.

Both are read in one query at most once a second per web process, so admission costs one
small query a second, not one per request.
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
LATE = Gauge(
    "sagas_in_flight_late",
    "Sagas in flight for longer than BOOKING_ADMISSION_LATE_AFTER_S (as the web's admission "
    "control last read them)",
)
_COUNT = text(
    "SELECT count(*), count(*) FILTER (WHERE created_at < now() - make_interval(secs => :late)) "
    "FROM sagas WHERE status IN ('running', 'compensating') "
    "AND COALESCE((state->>'waiting')::boolean, false) = false"
)


@dataclass
class Admission:
    engine: AsyncEngine
    max_in_flight: int  # 0: no bound
    max_late: int = 0  # 0: no bound
    late_after_s: float = 10.0
    retry_after_s: int = 5
    ttl_s: float = 1.0
    _count: int = 0
    _late: int = 0
    _read_at: float = float("-inf")

    async def backlog(self) -> tuple[int, int]:
        """Sagas in flight, and how many of them for longer than ``late_after_s``."""
        now = time.monotonic()
        if now - self._read_at >= self.ttl_s:
            with tenancy.every_tenant():  # the platform's backlog, not this tenant's
                async with self.engine.connect() as conn:
                    count, late = (await conn.execute(_COUNT, {"late": self.late_after_s})).one()
            self._count, self._late = int(count), int(late)
            self._read_at = now
            IN_FLIGHT.set(self._count)
            LATE.set(self._late)
        return self._count, self._late

    async def admit(self) -> None:
        """Raise 503 while the backlog is past either bound."""
        if not (self.max_in_flight or self.max_late):
            return
        count, late = await self.backlog()
        if (self.max_in_flight and count >= self.max_in_flight) or (
            self.max_late and late >= self.max_late
        ):
            raise Problem(
                503,
                "overloaded",
                "Too many bookings in progress",
                "The platform is finishing the bookings it has; try again shortly.",
                headers={"Retry-After": str(self.retry_after_s)},
            )
