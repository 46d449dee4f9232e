"""Carries out a saga decision inside the caller's transaction: saga row, commands, booking
status, ``booking.*`` events and the saga log all commit together (or not at all)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from booking.adapters import repository
from booking.domain.booking import BookingStatus
from booking.domain.saga import Decision, Participant, SagaState
from contracts.booking import BookingConfirmed, BookingEvent, BookingRejected
from contracts.topics import (
    BOOKING_EVENTS,
    INVENTORY_COMMANDS,
    PAYMENT_COMMANDS,
    PRICING_COMMANDS,
    TopicSpec,
)
from messaging.outbox import Outbox

COMMAND_TOPICS: dict[Participant, TopicSpec] = {
    Participant.INVENTORY: INVENTORY_COMMANDS,
    Participant.PRICING: PRICING_COMMANDS,
    Participant.PAYMENT: PAYMENT_COMMANDS,
}


async def apply(
    conn: AsyncConnection,
    outbox: Outbox,
    booking_id: str,
    decision: Decision,
    *,
    step_timeout_s: float,
    actor: str = "saga",
) -> None:
    now = datetime.now(UTC)
    if decision.ignored:
        await repository.log(conn, booking_id, "note", None, decision.state.current, decision.note)
        return
    state = decision.state
    deadline = repository.deadline_after(now, step_timeout_s) if decision.command else None
    await repository.save_saga(conn, booking_id, state, deadline)
    if decision.note:
        await repository.log(conn, booking_id, "note", None, state.current or None, decision.note)
    if decision.command is not None:
        participant, command = decision.command
        await outbox.add(conn, topic=COMMAND_TOPICS[participant], key=booking_id, message=command)
        await repository.log(conn, booking_id, "command", command.ce_type(), command.step)
    if decision.confirmed:
        await _finish(conn, outbox, booking_id, state, BookingStatus.CONFIRMED, actor, now)
    if decision.rejected:
        await _finish(conn, outbox, booking_id, state, BookingStatus.REJECTED, actor, now)


async def _finish(
    conn: AsyncConnection,
    outbox: Outbox,
    booking_id: str,
    state: SagaState,
    status: BookingStatus,
    actor: str,
    now: datetime,
) -> None:
    """The saga's outcome: booking status, what the saga learned, and the public event."""
    data = state.data
    fields: dict[str, Any] = {
        "total_amount": data.total_amount,
        "currency": data.currency,
        "quote_id": data.quote_id,
        "reservation_id": data.reservation_id,
        "unit_id": data.unit_id,
        "payment_id": data.payment_id,
    }
    reason = None
    event: BookingEvent
    if status is BookingStatus.REJECTED:
        reason = state.failure_reason or "rejected"
        fields |= {"reason": reason, "reason_detail": state.failure_detail}
    version = await repository.change_status(
        conn, booking_id, status, actor=actor, reason=reason, fields=fields
    )
    common: dict[str, Any] = {
        "booking_id": booking_id,
        "booking_version": version,
        "status": status,
        "occurred_at": now,
    }
    if status is BookingStatus.CONFIRMED:
        event = BookingConfirmed(
            **common,
            total=data.total,
            payment_id=data.payment_id or "",
            reservation_id=data.reservation_id or "",
        )
    else:
        event = BookingRejected(**common, reason=reason or "", detail=state.failure_detail or "")
    await outbox.add(conn, topic=BOOKING_EVENTS, key=booking_id, message=event)
    await repository.log(conn, booking_id, "event", event.ce_type(), None, reason)
