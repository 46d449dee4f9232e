"""What the booking API reads: a booking by reference, the filtered list, the audit trail and
the saga log. Every query is of one tenant (the caller's); row-level security holds the same
wall underneath."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from booking.adapters.repository import BOOKING_COLUMNS

_BY_REFERENCE = text(
    f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE tenant_id = :t AND reference = :r"
)
_LIST = text(
    f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE tenant_id = :t "
    "AND (CAST(:st AS text[]) IS NULL OR status = ANY(CAST(:st AS text[]))) "
    "AND (CAST(:g AS text) IS NULL OR guest_id = :g) "
    "AND (CAST(:v AS text) IS NULL OR venue_id = :v) "
    "AND (CAST(:r AS text) IS NULL OR resource_id = :r) "
    "AND (CAST(:a AS date) IS NULL OR check_out > :a) "
    "AND (CAST(:b AS date) IS NULL OR check_in < :b) "
    "AND (CAST(:ca AS timestamptz) IS NULL "
    "     OR (created_at, id) < (:ca, CAST(:ci AS uuid))) "
    "ORDER BY created_at DESC, id DESC LIMIT :limit"
)
_AUDIT = text(
    "SELECT at, action, actor, actor_roles, ip, user_agent, old, new "
    "FROM booking_audit WHERE booking_id = :b ORDER BY id"
)
_SAGA_LOG = text(
    "SELECT at, kind, message_type, step, detail FROM saga_log WHERE booking_id = :b ORDER BY id"
)
_SAGAS = text(
    "SELECT id::text, seq, saga_type, status, current_step, deadline, "
    "state->>'failure_reason' AS failure_reason FROM sagas WHERE booking_id = :b ORDER BY seq"
)


async def by_reference(conn: AsyncConnection, tenant: str, reference: str) -> Row[Any] | None:
    return (await conn.execute(_BY_REFERENCE, {"t": tenant, "r": reference})).first()


@dataclass(frozen=True)
class BookingFilter:
    """Which of a tenant's bookings to list, newest first; ``after``: the (created_at, id) of
    the last booking of the page before."""

    tenant: str
    statuses: list[str] | None = None
    guest_id: str | None = None
    venue_id: str | None = None
    resource_id: str | None = None
    ending_after: date | None = None
    starting_before: date | None = None
    after: tuple[datetime, str] | None = None
    limit: int = 50


async def listed(conn: AsyncConnection, f: BookingFilter) -> list[Row[Any]]:
    params = {
        "t": f.tenant,
        "st": f.statuses,
        "g": f.guest_id,
        "v": f.venue_id,
        "r": f.resource_id,
        "a": f.ending_after,
        "b": f.starting_before,
        "ca": f.after[0] if f.after else None,
        "ci": f.after[1] if f.after else None,
        "limit": f.limit,
    }
    return list((await conn.execute(_LIST, params)).all())


async def audit_entries(conn: AsyncConnection, booking_id: str) -> list[Row[Any]]:
    return list(await conn.execute(_AUDIT, {"b": booking_id}))


async def saga_log(conn: AsyncConnection, booking_id: str) -> list[Row[Any]]:
    return list(await conn.execute(_SAGA_LOG, {"b": booking_id}))


async def sagas(conn: AsyncConnection, booking_id: str) -> list[Row[Any]]:
    return list(await conn.execute(_SAGAS, {"b": booking_id}))
