"""What stuck sagas look like in /metrics: how many are parked (waiting for an operator) and
how many are overdue (their timer should have looked at them and has not: every booking
worker is down, or the timer keeps failing). Alerts in docs/OPERATIONS.md name both."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from messaging.jobs import periodic

PARKED = Gauge("sagas_parked", "Sagas parked, waiting for an operator", ["saga_type"])
OVERDUE = Gauge(
    "sagas_overdue",
    "Running or compensating sagas whose step deadline passed more than two step timeouts ago",
)
OLDEST_OVERDUE = Gauge(
    "sagas_oldest_overdue_seconds", "How long past its step deadline the most overdue saga is"
)

_PARKED = text("SELECT saga_type, count(*) FROM sagas WHERE status = 'parked' GROUP BY saga_type")
_OVERDUE = text(
    "SELECT count(*) FILTER (WHERE deadline < now() - make_interval(secs => :grace)), "
    "COALESCE(extract(epoch FROM now() - min(deadline)), 0) FROM sagas "
    "WHERE status IN ('running', 'compensating') AND deadline < now()"
)


def job(
    engine: AsyncEngine, step_timeout_s: float, every_s: float = 15.0
) -> Callable[[], Awaitable[None]]:
    seen: set[str] = set()

    async def tick() -> bool:
        async with engine.connect() as conn:
            parked: dict[str, int] = {t: n for t, n in (await conn.execute(_PARKED)).all()}
            overdue, oldest = (await conn.execute(_OVERDUE, {"grace": 2 * step_timeout_s})).one()
        for saga_type in seen | set(parked):
            PARKED.labels(saga_type).set(parked.get(saga_type, 0))
        seen.update(parked)
        OVERDUE.set(overdue)
        OLDEST_OVERDUE.set(float(oldest))
        return False

    return periodic("saga-gauges", every_s, tick)
