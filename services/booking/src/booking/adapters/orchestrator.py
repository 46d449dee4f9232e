"""Carries out a saga decision inside the caller's transaction: saga row, commands, booking
status, ``booking.*`` events and the saga log all commit together (or not at all)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from prometheus_client import Histogram
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from booking.adapters import lifecycle, repository
from booking.adapters.repository import SAGA, LockedSaga
from booking.domain.booking import BookingStatus
from booking.domain.saga_data import SagaData
from booking.domain.saga_engine import Decision, Participant, SagaState, SagaStatus
from booking.domain.sagas import (
    CANCEL_BOOKING,
    CREATE_BOOKING,
    LATE_PAYMENT,
    LATE_PAYMENT_REFUND,
    MODIFY_BOOKING,
    PAYMENT_DEADLINE_PASSED,
)
from contracts.topics import (
    INVENTORY_COMMANDS,
    PAYMENT_COMMANDS,
    PRICING_COMMANDS,
    TopicSpec,
)
from messaging import logcontext
from messaging.outbox import Outbox
from service_kit.clock import db_now

log = logging.getLogger(__name__)

COMMAND_TOPICS: dict[Participant, TopicSpec] = {
    Participant.INVENTORY: INVENTORY_COMMANDS,
    Participant.PRICING: PRICING_COMMANDS,
    Participant.PAYMENT: PAYMENT_COMMANDS,
}


@dataclass(frozen=True)
class Timing:
    """``step_timeout_s``: when the timer first looks at a step with no reply (and looks again
    while its command waits unconsumed); each resend waits twice as long as the one before.
    ``step_deadline_s``: a step with no reply by then fails, whatever the reason."""

    step_timeout_s: float
    step_deadline_s: float = 600.0

    def deadline(self, decision: Decision, now: datetime) -> datetime | None:
        """When the saga's timer looks again: a step's reply is due within the step timeout;
        a payment waiting for the guest, by its deadline (plus the step timeout for the
        payment service's own answer)."""
        state = decision.state
        if state.waiting and state.data.pay_by is not None:
            return state.data.pay_by + timedelta(seconds=self.step_timeout_s)
        if decision.command is not None:
            backoff = self.step_timeout_s * 2 ** min(state.attempts - 1, 10)
            return now + timedelta(seconds=min(backoff, self.step_deadline_s))
        if decision.wait_longer:
            return now + timedelta(seconds=self.step_timeout_s)
        return None

    def overdue(self, step_age_s: float) -> bool:
        return step_age_s >= self.step_deadline_s


async def begin(
    conn: AsyncConnection,
    outbox: Outbox,
    booking_id: str,
    decision: Decision,
    timing: Timing,
    *,
    now: datetime | None = None,
) -> str:
    """Store a new saga and send its first command (``now``: the transaction's ``now()``,
    when the caller has it)."""
    now = now or await db_now(conn)
    command_id = await _queue(conn, outbox, booking_id, decision)
    saga_id = await repository.insert_saga(
        conn, booking_id, decision.state, timing.deadline(decision, now), command_id
    )
    saga_type = decision.state.definition.name
    logcontext.add(booking_id=booking_id, saga_id=saga_id, saga_type=saga_type)
    log.info("saga %s started", saga_type)
    started = (booking_id, "note", None, None, f"{saga_type} started", decision.state.seq)
    await repository.log_entries(conn, [started, *_command_entry(booking_id, decision)])
    if decision.finished:  # nothing to do (every step skipped)
        await _finish(conn, outbox, booking_id, decision.state)
    return saga_id


async def _queue(
    conn: AsyncConnection, outbox: Outbox, booking_id: str, decision: Decision
) -> str | None:
    """Queue the decision's command, if any; its message id (the saga row keeps it, so the
    timer can ask whether the participant has consumed it)."""
    if decision.command is None:
        return None
    participant, command = decision.command
    return await outbox.add(
        conn, topic=COMMAND_TOPICS[participant], key=booking_id, message=command
    )


def _command_entry(booking_id: str, decision: Decision) -> list[repository.LogEntry]:
    if decision.command is None:
        return []
    command = decision.command[1]
    return [(booking_id, "command", command.ce_type(), command.step, None, decision.state.seq)]


async def apply(
    conn: AsyncConnection,
    outbox: Outbox,
    saga: LockedSaga,
    decision: Decision,
    timing: Timing,
    *,
    now: datetime | None = None,
    logged: tuple[repository.LogEntry, ...] = (),
) -> None:
    """``now``: the transaction's ``now()`` when the caller has it; ``logged``: saga-log
    entries of the caller's, written first in the same statement as the decision's."""
    booking_id, state = saga.booking_id, decision.state
    logcontext.add(booking_id=booking_id, saga_id=saga.id, saga_type=state.definition.name)
    note: list[repository.LogEntry] = (
        [(booking_id, "note", None, state.current_label or None, decision.note, state.seq)]
        if decision.note or decision.ignored
        else []
    )
    if decision.ignored:
        await repository.log_entries(conn, [*logged, *note])
        return
    in_flight = (
        decision.command is None
        and not decision.wait_longer
        and not state.waiting
        and not state.terminal
        and (state.status is not SagaStatus.PARKED)
    )
    command_id = await _queue(conn, outbox, booking_id, decision)
    age_s = await repository.save_saga(
        conn,
        saga.id,
        state,
        timing.deadline(decision, now or await db_now(conn)),
        keep_deadline=in_flight,
        command_id=command_id,
        new_step=command_id is not None and state.attempts == 1,
    )
    await repository.log_entries(conn, [*logged, *note, *_command_entry(booking_id, decision)])
    if decision.began_waiting:
        if state.definition is MODIFY_BOOKING:
            booking = await repository.load(conn, booking_id, lock=True)
            assert booking is not None
            await _modification(
                conn,
                booking,
                "awaiting_payment",
                {"next_action": state.data.next_action, "pay_by": state.data.pay_by},
            )
        else:
            await _awaiting_payment(conn, outbox, booking_id, state.data)
    if decision.finished:
        await _finish(conn, outbox, booking_id, state)
        SAGA_SECONDS.labels(state.definition.name, state.status.value).observe(age_s)
    elif state.status is SagaStatus.PARKED and saga.state.status is not SagaStatus.PARKED:
        log.warning("saga %s parked: %s", state.definition.name, decision.note or "")


# Observed in the transaction that ends the saga: a transaction retried after a transient
# error counts twice, which a histogram of thousands of sagas shrugs off.
SAGA_SECONDS = Histogram(
    "saga_duration_seconds",
    "From a saga's start to its outcome, by saga type and outcome",
    ["saga_type", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400),
)


async def _awaiting_payment(
    conn: AsyncConnection, outbox: Outbox, booking_id: str, data: SagaData
) -> None:
    booking = await repository.load(conn, booking_id, lock=True)
    assert booking is not None
    if booking.status != BookingStatus.PENDING:
        return  # cancelled meanwhile: the abort path gives everything back
    await lifecycle.move(
        conn,
        outbox,
        booking,
        BookingStatus.AWAITING_PAYMENT,
        SAGA,
        reason="payment_requires_action",
        fields={
            "payment_id": data.payment_id,
            "payment_deadline": data.pay_by,
            "next_action": data.next_action,
            **_priced_fields(data),
        },
        event_fields={"payment_deadline": data.pay_by},
    )


def saga_data_of(booking: Row[Any]) -> SagaData:
    """What a new saga of an existing booking starts from: the booking as it stands."""
    return SagaData(
        booking_id=booking.id,
        resource_id=booking.resource_id,
        check_in=booking.check_in,
        check_out=booking.check_out,
        party=dict(booking.party),
        payment_method=booking.payment_method,
        tenant_id=booking.tenant_id,
        venue_id=booking.venue_id,
        slot_id=booking.slot_id,
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
        timezone=booking.timezone,
        reservation_id=booking.reservation_id,
        unit_id=booking.unit_id,
        quote_id=booking.quote_id,
        total_amount=booking.total_amount,
        currency=booking.currency,
        payment_id=booking.payment_id,
        paid_amount=booking.paid_amount,
        refunded_amount=booking.refunded_amount,
    )


def _priced_fields(d: SagaData) -> dict[str, Any]:
    return {
        "total_amount": d.total_amount,
        "currency": d.currency,
        "quote_id": d.quote_id,
        "price": d.price,
        "policy": d.policy,
        "reservation_id": d.reservation_id,
        "unit_id": d.unit_id,
    }


async def _finish(conn: AsyncConnection, outbox: Outbox, booking_id: str, state: SagaState) -> None:
    """The saga's outcome, on the booking."""
    log.info("saga %s ended %s", state.definition.name, state.status.value)
    booking = await repository.load(conn, booking_id, lock=True)
    assert booking is not None
    handler = _OUTCOMES.get(state.definition.name)
    if handler is not None:
        await handler(conn, outbox, booking, state)


async def _create_outcome(
    conn: AsyncConnection, outbox: Outbox, booking: Row[Any], state: SagaState
) -> None:
    d = state.data
    if state.status is SagaStatus.SUCCEEDED:
        await lifecycle.move(
            conn,
            outbox,
            booking,
            BookingStatus.CONFIRMED,
            SAGA,
            fields={
                **_priced_fields(d),
                "payment_id": d.payment_id,
                "paid_amount": d.paid_amount,
                "payment_verified_at": d.verified_at,
                "payment_verified_by": d.verified_by,
                "next_action": None,
            },
            event_fields={
                "total": d.total,
                "payment_id": d.payment_id or "",
                "reservation_id": d.reservation_id or "",
            },
        )
        return
    await _given_back(conn, outbox, booking, state)


async def _given_back(
    conn: AsyncConnection, outbox: Outbox, booking: Row[Any], state: SagaState
) -> None:
    """The create saga failed (or was aborted): everything it took has been given back."""
    d = state.data
    if booking.status == BookingStatus.CANCELLED:  # the guest cancelled while it ran
        if d.refunded_amount:  # a transfer had arrived: it was refunded in full
            await lifecycle.move(
                conn,
                outbox,
                booking,
                BookingStatus.REFUNDED,
                SAGA,
                fields={
                    "paid_amount": d.paid_amount,
                    "refunded_amount": d.refunded_amount,
                    "payment_id": d.payment_id,
                },
                event_fields={"refund": d.money(d.refunded_amount)},
            )
        return
    reason = state.failure_reason or "rejected"
    expired = reason == PAYMENT_DEADLINE_PASSED
    await lifecycle.move(
        conn,
        outbox,
        booking,
        BookingStatus.EXPIRED if expired else BookingStatus.REJECTED,
        SAGA,
        reason=reason,
        fields={
            **_priced_fields(d),
            "reason": reason,
            "reason_detail": state.failure_detail,
            "payment_id": d.payment_id,
            "paid_amount": d.paid_amount,
            "refunded_amount": d.refunded_amount,
            "next_action": None,
        },
        event_fields={} if expired else {"reason": reason, "detail": state.failure_detail or ""},
    )


async def _cancel_outcome(
    conn: AsyncConnection, outbox: Outbox, booking: Row[Any], state: SagaState
) -> None:
    d = state.data
    if "refund_payment" in state.completed:
        await lifecycle.move(
            conn,
            outbox,
            booking,
            BookingStatus.REFUNDED,
            SAGA,
            fields={"refunded_amount": d.refunded_amount},
            event_fields={"refund": d.money(d.refunded_amount)},
        )
    else:
        await lifecycle.bookkeep(
            conn, booking, {"refunded_amount": Decimal(0)}, SAGA, "cancellation_settled"
        )


async def _late_payment_outcome(
    conn: AsyncConnection, outbox: Outbox, booking: Row[Any], state: SagaState
) -> None:
    d = state.data
    if state.status is SagaStatus.SUCCEEDED:
        await lifecycle.move(
            conn,
            outbox,
            booking,
            BookingStatus.CONFIRMED,
            SAGA,
            reason="late_payment",
            reinstate=True,
            fields={
                "reservation_id": d.reservation_id,
                "unit_id": d.unit_id,
                "paid_amount": d.paid_amount,
                "payment_verified_at": d.verified_at,
                "payment_verified_by": d.verified_by,
            },
            event_fields={
                "total": d.money(d.total_amount),
                "payment_id": d.payment_id or "",
                "reservation_id": d.reservation_id or "",
            },
        )
    else:
        await _late_refund_outcome(conn, outbox, booking, state)


async def _late_refund_outcome(
    conn: AsyncConnection, outbox: Outbox, booking: Row[Any], state: SagaState
) -> None:
    d = state.data
    await lifecycle.bookkeep(
        conn,
        booking,
        {"paid_amount": d.paid_amount, "refunded_amount": d.refunded_amount},
        SAGA,
        "late_payment_refunded",
    )


async def _modification(
    conn: AsyncConnection,
    booking: Row[Any],
    status: str,
    details: dict[str, Any],
    changes: dict[str, Any] | None = None,
) -> Row[Any]:
    """Where the booking's modification (locked by the caller) is, on the booking: a new
    version and an audit entry (``booking.updated`` is for a change that was applied)."""
    modification = {
        **(booking.modification or {}),
        "status": status,
        **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in details.items()},
    }
    return await lifecycle.bookkeep(
        conn,
        booking,
        {**(changes or {}), "modification": modification},
        SAGA,
        f"modification_{status}",
        bump=True,
    )


_CHANGEABLE = ("check_in", "check_out", "slot_id", "starts_at", "ends_at", "party")


async def _modify_outcome(
    conn: AsyncConnection, outbox: Outbox, booking: Row[Any], state: SagaState
) -> None:
    d = state.data
    money = {"paid_amount": d.paid_amount, "refunded_amount": d.refunded_amount}
    if state.status is not SagaStatus.SUCCEEDED:
        await _modification(
            conn,
            booking,
            "failed",
            {"reason": state.failure_reason, "detail": state.failure_detail},
            money,
        )
        return
    new = {
        "check_in": d.check_in,
        "check_out": d.check_out,
        "slot_id": d.slot_id,
        "starts_at": d.starts_at,
        "ends_at": d.ends_at,
        "party": d.party,
    }
    changed = tuple(name for name in _CHANGEABLE if getattr(booking, name) != new[name])
    modification = {**(booking.modification or {}), "status": "applied", "reason": None}
    await lifecycle.update(
        conn,
        outbox,
        booking,
        {
            **new,
            **_priced_fields(d),
            **money,
            "payment_id": d.payment_id or d.old_payment_id,
            "modification": modification,
        },
        SAGA,
        changed=(*changed, "total"),
        action="modification_applied",
    )


_OUTCOMES = {
    CREATE_BOOKING.name: _create_outcome,
    CANCEL_BOOKING.name: _cancel_outcome,
    LATE_PAYMENT.name: _late_payment_outcome,
    LATE_PAYMENT_REFUND.name: _late_refund_outcome,
    MODIFY_BOOKING.name: _modify_outcome,
}
