"""Changing a booking, the one way: the row, its status history, its ``booking.*`` event and its
audit entry are written together, in the caller's transaction. Every status transition goes
through ``move`` and so is recorded once and emitted exactly once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from booking.adapters import repository
from booking.domain.booking import STAMPS, BookingStatus, transition
from contracts.base import Money
from contracts.booking import (
    STATUS_EVENTS,
    BookingCreated,
    BookingEvent,
    BookingStatusChanged,
    BookingUpdated,
)
from contracts.common import Contact, Party, StayPeriod, TimeWindow
from contracts.topics import BOOKING_EVENTS
from messaging.outbox import Outbox
from service_kit.audit import Actor


def _common(row: Row[Any]) -> dict[str, Any]:
    """What every ``booking.*`` event carries; ``row`` is as just stored, so ``updated_at``
    is the database's time of this change (one clock for stamps, deadlines and events)."""
    return {
        "booking_id": row.id,
        "booking_version": row.version,
        "status": row.status,
        "occurred_at": row.updated_at,
        "tenant_id": row.tenant_id,
        "reference": row.reference,
    }


def total_of(row: Row[Any]) -> Money | None:
    if row.total_amount is None or row.currency is None:
        return None
    return Money.of(row.total_amount, row.currency)


def window_of(row: Row[Any]) -> TimeWindow | None:
    if row.slot_id is None or row.starts_at is None or row.ends_at is None:
        return None
    return TimeWindow(starts_at=row.starts_at, ends_at=row.ends_at, timezone=row.timezone or "UTC")


def contact_of(row: Row[Any]) -> Contact:
    guest = row.guest
    return Contact(name=guest["name"], email=guest["email"], locale=guest.get("locale"))


async def _emit(conn: AsyncConnection, outbox: Outbox, event: BookingEvent) -> None:
    await outbox.add(conn, topic=BOOKING_EVENTS, key=event.booking_id, message=event)
    await repository.log(conn, event.booking_id, "event", event.ce_type(), None)


async def created(conn: AsyncConnection, outbox: Outbox, row: Row[Any], actor: Actor) -> None:
    """A new booking: its first history entry, ``booking.created`` and the audit entry."""
    await repository.record_transition(conn, row.id, None, row.status, actor.subject, None, 1)
    await _emit(
        conn,
        outbox,
        BookingCreated(
            **_common(row),
            resource_id=row.resource_id,
            period=StayPeriod(check_in=row.check_in, check_out=row.check_out),
            party=Party(**row.party),
            window=window_of(row),
            slot_id=row.slot_id,
            venue_id=row.venue_id,
            guest_id=row.guest_id,
            contact=contact_of(row),
            resource_name=row.resource_name,
            timezone=row.timezone,
        ),
    )
    await repository.audit(conn, row.id, row.tenant_id, "create", actor, None, row)


async def move(
    conn: AsyncConnection,
    outbox: Outbox,
    booking: Row[Any],
    wanted: BookingStatus,
    actor: Actor,
    *,
    reason: str | None = None,
    fields: dict[str, Any] | None = None,
    event_fields: dict[str, Any] | None = None,
    reinstate: bool = False,
) -> Row[Any]:
    """Move ``booking`` (locked by the caller) to ``wanted``; IllegalTransition if the status
    machine forbids it. Returns the stored row."""
    current = BookingStatus(booking.status)
    transition(current, wanted, reinstate=reinstate)
    changes: dict[str, Any] = {**(fields or {}), "status": wanted.value}
    if wanted in STAMPS:
        changes[STAMPS[wanted]] = repository.DB_NOW
    row = await repository.update_booking(conn, booking.id, changes)
    await repository.record_transition(
        conn, row.id, current.value, wanted.value, actor.subject, reason, row.version
    )
    event_class = STATUS_EVENTS.get(wanted.value, BookingStatusChanged)
    await _emit(
        conn,
        outbox,
        event_class(
            **_common(row),
            **{
                "previous_status": current.value,
                "actor": actor.subject,
                "reason": reason,
                **(event_fields or {}),
            },
        ),
    )
    await repository.audit(
        conn, row.id, row.tenant_id, f"status:{wanted.value}", actor, booking, row
    )
    return row


async def update(
    conn: AsyncConnection,
    outbox: Outbox,
    booking: Row[Any],
    changes: dict[str, Any],
    actor: Actor,
    *,
    changed: tuple[str, ...],
    action: str = "update",
) -> Row[Any]:
    """A change that is not a status transition: new version, ``booking.updated``, audit."""
    row = await repository.update_booking(conn, booking.id, changes)
    await _emit(
        conn,
        outbox,
        BookingUpdated(
            **_common(row),
            changed=changed,
            period=StayPeriod(check_in=row.check_in, check_out=row.check_out),
            window=window_of(row),
            party=Party(**row.party),
            total=total_of(row),
            contact=contact_of(row) if "guest" in changed else None,
        ),
    )
    await repository.audit(conn, row.id, row.tenant_id, action, actor, booking, row)
    return row


async def bookkeep(
    conn: AsyncConnection,
    booking: Row[Any],
    changes: dict[str, Any],
    actor: Actor,
    action: str,
    *,
    bump: bool = False,
) -> Row[Any]:
    """Record facts the saga learned that change nothing a consumer acts on (an amount refunded
    to a booking that stays expired, a modification that failed): no event, but an audit entry;
    a new version only with ``bump`` (what the guest sees changed)."""
    row = await repository.update_booking(conn, booking.id, changes, bump=bump)
    await repository.audit(conn, row.id, row.tenant_id, action, actor, booking, row)
    return row
