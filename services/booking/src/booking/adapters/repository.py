"""Booking, saga and saga-log rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from booking.domain.booking import BookingStatus, transition
from booking.domain.saga import SagaState, state_from_json, state_to_json

BOOKING_COLUMNS = (
    "id::text, reference, tenant_id, resource_id, check_in, check_out, party, guest, "
    "special_requests, payment_method, status, version, reason, reason_detail, total_amount, "
    "currency, quote_id, reservation_id, unit_id, payment_id, created_at, updated_at, confirmed_at, "
    "rejected_at"
)


@dataclass
class LockedSaga:
    booking_id: str
    state: SagaState


async def insert_booking(conn: AsyncConnection, row: dict[str, Any]) -> Row[Any]:
    """Insert a new booking and its first status; returns the stored row (BOOKING_COLUMNS)."""
    stored = (
        await conn.execute(
            text(
                "INSERT INTO bookings (id, reference, resource_id, check_in, check_out, party, "
                "guest, special_requests, payment_method, status, version) VALUES (:id, "
                ":reference, :resource_id, :check_in, :check_out, CAST(:party AS jsonb), "
                "CAST(:guest AS jsonb), :special_requests, :payment_method, :status, 1) "
                f"RETURNING {BOOKING_COLUMNS}"
            ),
            {**row, "party": json.dumps(row["party"]), "guest": json.dumps(row["guest"])},
        )
    ).one()
    await record_transition(conn, row["id"], None, BookingStatus(row["status"]), "guest", None)
    return stored


async def record_transition(
    conn: AsyncConnection,
    booking_id: str,
    from_status: BookingStatus | None,
    to_status: BookingStatus,
    actor: str,
    reason: str | None,
) -> None:
    await conn.execute(
        text(
            "INSERT INTO booking_status_history (booking_id, from_status, to_status, actor, reason) "
            "VALUES (:b, :f, :t, :a, :r)"
        ),
        {"b": booking_id, "f": from_status, "t": to_status, "a": actor, "r": reason},
    )


async def change_status(
    conn: AsyncConnection,
    booking_id: str,
    wanted: BookingStatus,
    *,
    actor: str,
    reason: str | None = None,
    fields: dict[str, Any] | None = None,
) -> int:
    """Move the booking to ``wanted`` (checked against the status machine); returns the version."""
    row = (
        await conn.execute(
            text("SELECT status, version FROM bookings WHERE id = :id FOR UPDATE"),
            {"id": booking_id},
        )
    ).one()
    current = BookingStatus(row.status)
    transition(current, wanted)
    extra = fields or {}
    sets = ", ".join(f"{k} = :{k}" for k in extra)
    stamp = {
        BookingStatus.CONFIRMED: ", confirmed_at = now()",
        BookingStatus.REJECTED: ", rejected_at = now()",
    }.get(wanted, "")
    version = row.version + 1
    await conn.execute(
        text(
            f"UPDATE bookings SET status = :status, version = :version, updated_at = now(){stamp}"
            f"{', ' + sets if sets else ''} WHERE id = :id"
        ),
        {"status": wanted.value, "version": version, "id": booking_id, **extra},
    )
    await record_transition(conn, booking_id, current, wanted, actor, reason)
    return version


async def insert_saga(
    conn: AsyncConnection, booking_id: str, state: SagaState, deadline: datetime | None
) -> None:
    await conn.execute(
        text(
            "INSERT INTO sagas (booking_id, saga_type, status, current_step, deadline, state) "
            "VALUES (:b, 'create_booking', :s, :c, :d, CAST(:state AS jsonb))"
        ),
        {
            "b": booking_id,
            "s": state.status.value,
            "c": state.current,
            "d": deadline,
            "state": json.dumps(state_to_json(state)),
        },
    )


async def lock_saga(conn: AsyncConnection, booking_id: str) -> LockedSaga | None:
    row = (
        await conn.execute(
            text("SELECT state FROM sagas WHERE booking_id = :b FOR UPDATE"), {"b": booking_id}
        )
    ).first()
    return LockedSaga(booking_id, state_from_json(row.state)) if row else None


async def save_saga(
    conn: AsyncConnection, booking_id: str, state: SagaState, deadline: datetime | None
) -> None:
    await conn.execute(
        text(
            "UPDATE sagas SET status = :s, current_step = :c, deadline = :d, "
            "state = CAST(:state AS jsonb), updated_at = now() WHERE booking_id = :b"
        ),
        {
            "b": booking_id,
            "s": state.status.value,
            "c": state.current,
            "d": deadline,
            "state": json.dumps(state_to_json(state)),
        },
    )


async def due_sagas(conn: AsyncConnection, limit: int) -> list[str]:
    """Sagas whose step deadline passed, locked for this transaction; other replicas skip them."""
    rows = await conn.execute(
        text(
            "SELECT booking_id::text FROM sagas WHERE status IN ('running', 'compensating') "
            "AND deadline < now() ORDER BY deadline LIMIT :n FOR UPDATE SKIP LOCKED"
        ),
        {"n": limit},
    )
    return [r[0] for r in rows]


async def log(
    conn: AsyncConnection,
    booking_id: str,
    kind: str,
    message_type: str | None,
    step: str | None,
    detail: str | None = None,
) -> None:
    await conn.execute(
        text(
            "INSERT INTO saga_log (booking_id, kind, message_type, step, detail) "
            "VALUES (:b, :k, :m, :s, :d)"
        ),
        {"b": booking_id, "k": kind, "m": message_type, "s": step, "d": detail},
    )


def deadline_after(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)
