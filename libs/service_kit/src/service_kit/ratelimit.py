"""Rate limits on the public write paths (booking, cancelling, changing, holding, waiting):
per guest token and per client address, in fixed windows counted in the service's database,
so every replica of a web counts the same requests. A request past a limit is ``429
rate-limited`` (problem+json) with ``Retry-After``: the seconds until its window ends.

Counting costs one statement per write request (an upsert into an unlogged table, in its own
autocommit transaction, never holding a lock past it). Staff and admin tokens are not limited
per token (one token may stand for a whole front desk or the gateway's back office), only per
address. ``0`` turns a limit off; the local platform runs with both off unless a test sets them.
Old windows are deleted as they pass (now and then, by the requests themselves).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service_kit.auth import Caller, Principal
from service_kit.clients import client_of
from service_kit.problems import Problem

WINDOW_S = 60
TABLE = "rate_limit_windows"

_COUNT = text(
    f"""
    WITH w AS (SELECT date_bin(make_interval(secs => :win), now(), TIMESTAMPTZ '2000-01-01')
                      AS start)
    INSERT INTO {TABLE} (key, window_start, hits)
    SELECT k, w.start, 1 FROM w, unnest(CAST(:keys AS text[])) AS k
    ON CONFLICT (key, window_start) DO UPDATE SET hits = {TABLE}.hits + 1
    RETURNING key, hits,
              ceil(extract(epoch FROM window_start + make_interval(secs => :win) - now()))
              AS left_s
    """
)
_PURGE = text(f"DELETE FROM {TABLE} WHERE window_start < now() - interval '10 minutes'")


@dataclass(frozen=True)
class RateLimiter:
    engine: AsyncEngine
    per_guest: int  # writes a minute per guest token
    per_address: int  # writes a minute per client address

    async def check(self, who: Principal, address: str | None) -> None:
        limits: dict[str, int] = {}
        if self.per_guest and not who.is_staff:
            limits[f"token:{who.tenant}:{who.subject}"] = self.per_guest
        if self.per_address and address:
            limits[f"addr:{address}"] = self.per_address
        if not limits:
            return
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_COUNT, {"keys": list(limits), "win": WINDOW_S})).all()
            if random.random() < 0.01:
                await conn.execute(_PURGE)
            await conn.commit()
        over = [r for r in rows if r.hits > limits[r.key]]
        if over:
            wait = max(1, int(max(r.left_s for r in over)))
            which = "this caller" if over[0].key.startswith("token:") else "this address"
            raise Problem(
                429,
                "rate-limited",
                "Too many requests",
                f"Too many changes from {which}; try again in {wait} s.",
                headers={"Retry-After": str(wait)},
            )


async def _rate_limited(request: Request, who: Caller) -> None:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        await limiter.check(who, client_of(request))


# Add to a write route: ``dependencies=[RATE_LIMITED]``.
RATE_LIMITED: Any = Depends(_rate_limited)


def rate_limit_table(metadata: sa.MetaData) -> sa.Table:
    """The counting table in a service's metadata (``add_rate_limits`` makes it)."""
    return sa.Table(
        TABLE,
        metadata,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
        prefixes=["UNLOGGED"],
    )


def add_rate_limits(op: Any) -> None:
    """The counting table (a service's migration)."""
    op.create_table(
        TABLE,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
        prefixes=["UNLOGGED"],
    )


def drop_rate_limits(op: Any) -> None:
    op.drop_table(TABLE)
