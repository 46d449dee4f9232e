"""Carries out a saga decision inside the caller's transaction: saga row, commands, booking
status, ``booking.*`` events and the saga log all commit together (or not at all)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from booking.adapters import repository
from booking.domain.booking import BookingStatus
from booking.domain.saga import Decision, Participant
from contracts.booking import BookingConfirmed, BookingRejected
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
    data = state.data
    if decision.confirmed:
        version = await repository.change_status(
            conn,
            booking_id,
            BookingStatus.CONFIRMED,
            actor=actor,
            fields={
                "total_amount": data.total_amount,
                "currency": data.currency,
                "quote_id": data.quote_id,
                "reservation_id": data.reservation_id,
                "payment_id": data.payment_id,
            },
        )
        await outbox.add(
            conn,
            topic=BOOKING_EVENTS,
            key=booking_id,
            message=BookingConfirmed(
                booking_id=booking_id,
                booking_version=version,
                status=BookingStatus.CONFIRMED,
                occurred_at=now,
                total=data.total,
                payment_id=data.payment_id or "",
                reservation_id=data.reservation_id or "",
            ),
        )
        await repository.log(conn, booking_id, "event", BookingConfirmed.ce_type(), None)
    if decision.rejected:
        reason = state.failure_reason or "rejected"
        version = await repository.change_status(
            conn,
            booking_id,
            BookingStatus.REJECTED,
            actor=actor,
            reason=reason,
            fields={
                "reason": reason,
                "reason_detail": state.failure_detail,
                "total_amount": data.total_amount,
                "currency": data.currency,
                "quote_id": data.quote_id,
                "reservation_id": data.reservation_id,
                "payment_id": data.payment_id,
            },
        )
        await outbox.add(
            conn,
            topic=BOOKING_EVENTS,
            key=booking_id,
            message=BookingRejected(
                booking_id=booking_id,
                booking_version=version,
                status=BookingStatus.REJECTED,
                occurred_at=now,
                reason=reason,
                detail=state.failure_detail or "",
            ),
        )
        await repository.log(conn, booking_id, "event", BookingRejected.ce_type(), None, reason)
