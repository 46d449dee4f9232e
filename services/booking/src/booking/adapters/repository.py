"""Booking, saga, saga-log, status-history and audit rows."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from booking.domain.saga_engine import SagaState, state_to_json
from booking.domain.sagas import load_state
from service_kit.audit import Actor, changes, row_params

BOOKING_COLUMNS = (
    "id::text, reference, tenant_id, guest_id, venue_id, resource_id, slot_id, check_in, "
    "check_out, starts_at, ends_at, timezone, party, guest, special_requests, dietary_notes, "
    "accessibility_notes, payment_method, hold_id, status, version, reason, reason_detail, "
    "total_amount, currency, price, policy, paid_amount, refunded_amount, quote_id, "
    "reservation_id, unit_id, payment_id, payment_deadline, next_action, payment_verified_at, "
    "payment_verified_by, cancel_reason, cancelled_by, created_at, updated_at, "
    "awaiting_payment_at, confirmed_at, checked_in_at, completed_at, cancelled_at, refunded_at, "
    "no_show_at, expired_at, rejected_at, modification, resource_name"
)

# What the audit log shows of a booking before and after a change.
AUDITED = (
    "status",
    "version",
    "guest",
    "special_requests",
    "dietary_notes",
    "accessibility_notes",
    "check_in",
    "check_out",
    "slot_id",
    "starts_at",
    "ends_at",
    "party",
    "total_amount",
    "currency",
    "paid_amount",
    "refunded_amount",
    "reservation_id",
    "payment_id",
    "cancel_reason",
    "payment_verified_by",
    "modification",
)


SAGA = Actor("saga")


@dataclass
class LockedSaga:
    id: str
    booking_id: str
    state: SagaState
    command_id: str | None = None  # the current step's last command
    step_age_s: float = 0.0  # since the current step (or compensation) began


async def insert_booking(conn: AsyncConnection, row: dict[str, Any]) -> Row[Any]:
    """Insert a new booking (version 1); returns the stored row (BOOKING_COLUMNS)."""
    columns = list(row)
    values = ", ".join(
        f"CAST(:{c} AS jsonb)" if c in ("party", "guest") else f":{c}" for c in columns
    )
    params = {
        **row,
        "party": json.dumps(row["party"]),
        "guest": json.dumps(row["guest"]),
    }
    return (
        await conn.execute(
            text(
                f"INSERT INTO bookings ({', '.join(columns)}, version) VALUES ({values}, 1) "
                f"RETURNING {BOOKING_COLUMNS}"
            ),
            params,
        )
    ).one()


async def load(
    conn: AsyncConnection, booking_id: str, *, lock: bool = False, tenant: str | None = None
) -> Row[Any] | None:
    """A booking (of ``tenant``, when given); ``lock`` holds it FOR UPDATE until commit."""
    return (
        await conn.execute(
            text(
                f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = CAST(:id AS uuid) "
                "AND (CAST(:t AS text) IS NULL OR tenant_id = :t)" + (" FOR UPDATE" if lock else "")
            ),
            {"id": booking_id, "t": tenant},
        )
    ).first()


_JSON = ("party", "guest", "price", "policy", "modification")


class _DbNow:
    """A field value meaning "the database's ``now()``" (status stamps: one clock)."""


DB_NOW = _DbNow()


async def update_booking(
    conn: AsyncConnection, booking_id: str, fields: dict[str, Any], *, bump: bool = True
) -> Row[Any]:
    """Set ``fields`` (and ``version + 1`` unless ``bump`` is False); returns the stored row."""
    sets = [
        f"{k} = now()"
        if v is DB_NOW
        else f"{k} = CAST(:{k} AS jsonb)"
        if k in _JSON
        else f"{k} = :{k}"
        for k, v in fields.items()
    ]
    if bump:
        sets.append("version = version + 1")
    sets.append("updated_at = now()")
    params = {
        k: json.dumps(v, default=str) if k in _JSON and v is not None else v
        for k, v in fields.items()
        if v is not DB_NOW
    }
    return (
        await conn.execute(
            text(
                f"UPDATE bookings SET {', '.join(sets)} WHERE id = CAST(:id AS uuid) "
                f"RETURNING {BOOKING_COLUMNS}"
            ),
            {**params, "id": booking_id},
        )
    ).one()


async def record_transition(
    conn: AsyncConnection,
    booking_id: str,
    from_status: str | None,
    to_status: str,
    actor: str,
    reason: str | None,
    version: int,
) -> None:
    await conn.execute(
        text(
            "INSERT INTO booking_status_history (booking_id, from_status, to_status, actor, "
            "reason, version) VALUES (:b, :f, :t, :a, :r, :v)"
        ),
        {"b": booking_id, "f": from_status, "t": to_status, "a": actor, "r": reason, "v": version},
    )


def audit_view(row: Row[Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    data = row._mapping
    return json.loads(json.dumps({k: data[k] for k in AUDITED}, default=str))


async def audit(
    conn: AsyncConnection,
    booking_id: str,
    tenant_id: str,
    action: str,
    actor: Actor,
    old: Row[Any] | None,
    new: Row[Any] | None,
) -> None:
    """One audit row: who, from where, what the booking was and became (changed fields only)."""
    before, after = changes(audit_view(old), audit_view(new))
    await conn.execute(
        text(
            "INSERT INTO booking_audit (booking_id, tenant_id, action, actor, actor_roles, ip, "
            "user_agent, old, new) VALUES (:b, :t, :a, :who, :roles, :ip, :ua, "
            "CAST(:old AS jsonb), CAST(:new AS jsonb))"
        ),
        {"b": booking_id, "t": tenant_id, "a": action} | row_params(actor, before, after),
    )


async def insert_saga(
    conn: AsyncConnection,
    booking_id: str,
    state: SagaState,
    deadline: datetime | None,
    command_id: str | None = None,
) -> str:
    saga_id = str(uuid.uuid4())
    await conn.execute(
        text(
            "INSERT INTO sagas (id, booking_id, seq, saga_type, status, current_step, deadline, "
            "command_id, step_started_at, state) VALUES (:id, :b, :seq, :type, :s, :c, :d, "
            ":cmd, now(), CAST(:state AS jsonb))"
        ),
        {
            "id": saga_id,
            "b": booking_id,
            "seq": state.seq,
            "type": state.definition.name,
            "s": state.status.value,
            "c": state.current,
            "d": deadline,
            "cmd": command_id,
            "state": json.dumps(state_to_json(state)),
        },
    )
    return saga_id


async def next_saga_seq(conn: AsyncConnection, booking_id: str) -> int:
    return int(
        (
            await conn.execute(
                text("SELECT COALESCE(max(seq), 0) + 1 FROM sagas WHERE booking_id = :b"),
                {"b": booking_id},
            )
        ).scalar_one()
    )


async def lock_active_saga(conn: AsyncConnection, booking_id: str) -> LockedSaga | None:
    """The booking's active saga (running, compensating or parked), locked. Callers lock the
    booking first: booking, then saga, on every path."""
    row = (
        await conn.execute(
            text(
                "SELECT id::text, state FROM sagas WHERE booking_id = :b "
                "AND status IN ('running', 'compensating', 'parked') FOR UPDATE"
            ),
            {"b": booking_id},
        )
    ).first()
    return LockedSaga(row.id, booking_id, load_state(row.state)) if row else None


async def lock_for_reply(
    conn: AsyncConnection, booking_id: str
) -> tuple[LockedSaga | None, datetime] | None:
    """What a participant's reply needs, in one round trip: the booking locked, then its active
    saga locked (the order every path takes), and the transaction's ``now()``. ``None`` when
    there is no such booking; no saga when none of the booking's is active."""
    row = (
        await conn.execute(
            text(
                "SELECT s.id::text AS saga_id, s.state, now() AS now FROM "
                "(SELECT id FROM bookings WHERE id = CAST(:b AS uuid) FOR UPDATE) AS b "
                "LEFT JOIN LATERAL (SELECT id, state FROM sagas WHERE booking_id = b.id "
                "AND status IN ('running', 'compensating', 'parked') FOR UPDATE) AS s ON true"
            ),
            {"b": booking_id},
        )
    ).first()
    if row is None:
        return None
    saga = LockedSaga(row.saga_id, booking_id, load_state(row.state)) if row.saga_id else None
    return saga, row.now


async def save_saga(
    conn: AsyncConnection,
    saga_id: str,
    state: SagaState,
    deadline: datetime | None,
    *,
    keep_deadline: bool = False,
    command_id: str | None = None,
    new_step: bool = False,
) -> float:
    """Store the saga's state; ``keep_deadline`` leaves the step's deadline as it was (nothing
    new was sent, e.g. an abort noted while a step is in flight). ``command_id``: the command
    just sent; ``new_step``: it began a step (or compensation), whose age starts now. Returns
    the saga's age in seconds (for its duration when this state ends it)."""
    set_deadline = "" if keep_deadline else "deadline = :d, "
    set_command = "command_id = :cmd, " if command_id is not None else ""
    set_started = "step_started_at = now(), " if new_step else ""
    age = await conn.scalar(
        text(
            f"UPDATE sagas SET status = :s, current_step = :c, {set_deadline}{set_command}"
            f"{set_started}state = CAST(:state AS jsonb), updated_at = now() WHERE id = :i "
            "RETURNING extract(epoch FROM clock_timestamp() - created_at)"
        ),
        {
            "i": saga_id,
            "s": state.status.value,
            "c": state.current,
            "d": deadline,
            "cmd": command_id,
            "state": json.dumps(state_to_json(state)),
        },
    )
    return float(age or 0.0)


async def due_sagas(conn: AsyncConnection, limit: int) -> list[tuple[str, str]]:
    """(saga id, booking id) of sagas whose step deadline passed; not locked (see
    ``lock_due``)."""
    rows = await conn.execute(
        text(
            "SELECT id::text, booking_id::text FROM sagas WHERE status IN ('running', "
            "'compensating') AND deadline < now() ORDER BY deadline LIMIT :n"
        ),
        {"n": limit},
    )
    return [(r[0], r[1]) for r in rows]


async def lock_booking(
    conn: AsyncConnection, booking_id: str, *, skip_locked: bool = False
) -> bool:
    """Lock the booking row (the first lock on every path: booking, then its saga). False when
    there is no such booking, or, with ``skip_locked``, when another transaction holds it."""
    row = (
        await conn.execute(
            text(
                "SELECT 1 FROM bookings WHERE id = CAST(:b AS uuid) FOR UPDATE"
                + (" SKIP LOCKED" if skip_locked else "")
            ),
            {"b": booking_id},
        )
    ).first()
    return row is not None


async def status_history(conn: AsyncConnection, booking_id: str) -> list[Row[Any]]:
    """The booking's status transitions, oldest first."""
    rows = await conn.execute(
        text(
            "SELECT at, from_status, to_status, actor, reason, version "
            "FROM booking_status_history WHERE booking_id = :b ORDER BY id"
        ),
        {"b": booking_id},
    )
    return list(rows)


async def lock_due(conn: AsyncConnection, saga_id: str, booking_id: str) -> LockedSaga | None:
    """Lock a due saga for its timer, booking first (the order every path takes: routes and
    reply handlers lock the booking, then its saga, so they never deadlock with each other).
    None when another replica holds the booking or the saga is no longer due."""
    if not await lock_booking(conn, booking_id, skip_locked=True):
        return None
    row = (
        await conn.execute(
            text(
                "SELECT id::text, state, command_id::text, extract(epoch FROM now() - "
                "COALESCE(step_started_at, updated_at)) AS step_age FROM sagas WHERE id = :i "
                "AND deadline < now() AND status IN ('running', 'compensating') FOR UPDATE"
            ),
            {"i": saga_id},
        )
    ).first()
    if row is None:
        return None
    return LockedSaga(
        row.id, booking_id, load_state(row.state), row.command_id, float(row.step_age)
    )


async def park_unreadable(conn: AsyncConnection, saga_id: str, booking_id: str, why: str) -> None:
    """Park a saga this build cannot advance (its type or data does not load, its timer
    raises): its row changes without being read as a ``SagaState``, so an operator sees it
    parked (``parked_from`` what it was) and can retry it from a build that can."""
    await conn.execute(
        text(
            "UPDATE sagas SET status = 'parked', deadline = NULL, updated_at = now(), "
            "state = state || jsonb_build_object('status', 'parked', 'parked_from', "
            "state->>'status', 'failure_detail', CAST(:why AS text)) "
            "WHERE id = CAST(:i AS uuid) AND status IN ('running', 'compensating')"
        ),
        {"i": saga_id, "why": why},
    )
    await log(conn, booking_id, "note", None, None, f"parked: {why}")


# A saga-log entry: booking id, kind, message type, step, detail, saga seq.
LogEntry = tuple[str, str, str | None, str | None, str | None, int | None]


async def log(
    conn: AsyncConnection,
    booking_id: str,
    kind: str,
    message_type: str | None,
    step: str | None,
    detail: str | None = None,
    saga_seq: int | None = None,
) -> None:
    await log_entries(conn, [(booking_id, kind, message_type, step, detail, saga_seq)])


async def log_entries(conn: AsyncConnection, entries: list[LogEntry]) -> None:
    """Saga-log entries in one statement, in order (none: nothing is sent)."""
    if not entries:
        return
    values = ", ".join(f"(:b{i}, :k{i}, :m{i}, :s{i}, :d{i}, :q{i})" for i in range(len(entries)))
    params: dict[str, Any] = {}
    for i, entry in enumerate(entries):
        params.update(
            zip((f"b{i}", f"k{i}", f"m{i}", f"s{i}", f"d{i}", f"q{i}"), entry, strict=True)
        )
    await conn.execute(
        text(
            "INSERT INTO saga_log (booking_id, kind, message_type, step, detail, saga_seq) "
            f"VALUES {values}"
        ),
        params,
    )


def deadline_after(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)
