"""The figures in Postgres, and the event ids already counted.

Each event is applied in one transaction: its id is inserted into ``seen_events`` first
(``ON CONFLICT DO NOTHING``); if it was there, the transaction ends without touching anything.
Kafka delivers at least once and the platform's outbox may publish an event twice after a crash;
the pair (``ce_source``, ``ce_id``) is the event's identity across both, so counting it once is
exactly this insert. The booking's version is a second guard (an event at or below the version
already applied adds nothing), for ids forgotten by a purge of ``seen_events``.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from analytics.model import BookingState, Change, apply
from contracts.base import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_events (
    source text NOT NULL,
    id text NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, id)
);
CREATE TABLE IF NOT EXISTS bookings (
    booking_id text PRIMARY KEY,
    resource_id text NOT NULL,
    timezone text NOT NULL,
    created_day date NOT NULL,
    version integer NOT NULL,
    status text NOT NULL,
    confirmed boolean NOT NULL DEFAULT false,
    total numeric(18, 6),
    currency text
);
CREATE INDEX IF NOT EXISTS bookings_resource_day_idx ON bookings (resource_id, created_day);
CREATE TABLE IF NOT EXISTS resource_days (
    resource_id text NOT NULL,
    day date NOT NULL,
    created integer NOT NULL DEFAULT 0,
    confirmed integer NOT NULL DEFAULT 0,
    cancelled integer NOT NULL DEFAULT 0,
    PRIMARY KEY (resource_id, day)
);
CREATE TABLE IF NOT EXISTS resource_day_revenue (
    resource_id text NOT NULL,
    day date NOT NULL,
    currency text NOT NULL,
    revenue numeric(18, 6) NOT NULL DEFAULT 0,
    refunded numeric(18, 6) NOT NULL DEFAULT 0,
    PRIMARY KEY (resource_id, day, currency)
);
"""
TABLES = ("seen_events", "bookings", "resource_days", "resource_day_revenue")


async def create_schema(conn: asyncpg.Connection) -> None:
    await conn.execute(SCHEMA)


async def wipe(conn: asyncpg.Connection) -> None:
    """Forget everything: the figures and the ids seen (before a rebuild from the beginning)."""
    await conn.execute(f"TRUNCATE {', '.join(TABLES)}")


async def _state(conn: asyncpg.Connection, booking_id: str) -> BookingState | None:
    row = await conn.fetchrow(
        "SELECT booking_id, resource_id, timezone, created_day, version, status, confirmed, "
        "total, currency FROM bookings WHERE booking_id = $1 FOR UPDATE",
        booking_id,
    )
    return BookingState(**dict(row)) if row else None


async def record(conn: asyncpg.Connection, source: str, event_id: str, event: Event) -> bool:
    """Apply one event once. True when it counted, False for a duplicate or an event that
    changes nothing here."""
    async with conn.transaction():
        first = await conn.fetchval(
            "INSERT INTO seen_events (source, id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING RETURNING true",
            source,
            event_id,
        )
        if not first:
            return False
        booking_id = getattr(event, "booking_id", None)
        if booking_id is None:
            return False
        change = apply(await _state(conn, booking_id), event)
        if change is None:
            return False
        await _save(conn, change)
        return True


async def _save(conn: asyncpg.Connection, change: Change) -> None:
    s = change.state
    await conn.execute(
        "INSERT INTO bookings (booking_id, resource_id, timezone, created_day, version, status, "
        "confirmed, total, currency) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        "ON CONFLICT (booking_id) DO UPDATE SET version = EXCLUDED.version, "
        "status = EXCLUDED.status, confirmed = EXCLUDED.confirmed, total = EXCLUDED.total, "
        "currency = EXCLUDED.currency",
        s.booking_id,
        s.resource_id,
        s.timezone,
        s.created_day,
        s.version,
        s.status,
        s.confirmed,
        s.total,
        s.currency,
    )
    if change.created or change.confirmed or change.cancelled:
        await conn.execute(
            "INSERT INTO resource_days (resource_id, day, created, confirmed, cancelled) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (resource_id, day) DO UPDATE SET "
            "created = resource_days.created + EXCLUDED.created, "
            "confirmed = resource_days.confirmed + EXCLUDED.confirmed, "
            "cancelled = resource_days.cancelled + EXCLUDED.cancelled",
            s.resource_id,
            change.day,
            change.created,
            change.confirmed,
            change.cancelled,
        )
    for currency in sorted(set(change.revenue) | set(change.refunded)):
        await conn.execute(
            "INSERT INTO resource_day_revenue (resource_id, day, currency, revenue, refunded) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (resource_id, day, currency) DO UPDATE SET "
            "revenue = resource_day_revenue.revenue + EXCLUDED.revenue, "
            "refunded = resource_day_revenue.refunded + EXCLUDED.refunded",
            s.resource_id,
            change.day,
            currency,
            change.revenue.get(currency, Decimal(0)),
            change.refunded.get(currency, Decimal(0)),
        )


async def report(conn: asyncpg.Connection, resource_id: str | None = None) -> list[dict[str, Any]]:
    """Per resource and day: counts, net revenue per currency, and the conversion of the
    bookings created that day."""
    rows = await conn.fetch(
        """
        WITH conversion AS (
            SELECT resource_id, created_day AS day, count(*) AS made,
                   count(*) FILTER (WHERE confirmed) AS converted
            FROM bookings GROUP BY resource_id, created_day)
        SELECT d.resource_id, d.day, d.created, d.confirmed, d.cancelled,
               coalesce(c.made, 0) AS made, coalesce(c.converted, 0) AS converted,
               coalesce((SELECT jsonb_object_agg(r.currency, jsonb_build_object(
                   'revenue', r.revenue::text, 'refunded', r.refunded::text,
                   'net', (r.revenue - r.refunded)::text))
                 FROM resource_day_revenue r
                 WHERE r.resource_id = d.resource_id AND r.day = d.day), '{}') AS money
        FROM resource_days d
        LEFT JOIN conversion c ON c.resource_id = d.resource_id AND c.day = d.day
        WHERE $1::text IS NULL OR d.resource_id = $1
        ORDER BY d.resource_id, d.day
        """,
        resource_id,
    )
    out = []
    for r in rows:
        item = dict(r)
        item["money"] = json.loads(r["money"]) if isinstance(r["money"], str) else r["money"]
        item["conversion"] = round(r["converted"] / r["made"], 4) if r["made"] else None
        out.append(item)
    return out


async def conversion(conn: asyncpg.Connection, since: date | None = None) -> float | None:
    """Created → confirmed over all bookings (created on or after ``since``)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS made, count(*) FILTER (WHERE confirmed) AS converted FROM bookings "
        "WHERE $1::date IS NULL OR created_day >= $1",
        since,
    )
    return round(row["converted"] / row["made"], 4) if row["made"] else None
