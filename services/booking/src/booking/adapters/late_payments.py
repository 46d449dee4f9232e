"""Late payments: money that arrived after its booking gave up on it (a bank transfer verified
past its deadline) is never lost, whatever the booking's saga is doing.

Every ``payment.late_payment_received`` is recorded here first (once per payment), in the
transaction of the event's inbox claim. It is settled when the booking has no saga running or
parked: at once if it has none, otherwise by the settling sweep after that saga ends (or after
an operator's retry finishes a parked one). Settling starts the late-payment saga: an expired
booking whose capacity can be had again is reinstated; otherwise (capacity gone, the booking
cancelled or rejected meanwhile, a payment the booking does not use) the money goes back in
full. So no expired, rejected or cancelled booking keeps money.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from booking.adapters import orchestrator, repository
from booking.adapters.orchestrator import Timing, saga_data_of
from booking.domain.booking import BookingStatus
from booking.domain.saga_engine import start
from booking.domain.sagas import LATE_PAYMENT, LATE_PAYMENT_REFUND
from contracts.payment import LatePaymentReceived
from messaging.outbox import Outbox


async def record(conn: AsyncConnection, event: LatePaymentReceived) -> None:
    """Keep the late payment until it is settled (a redelivery records nothing new)."""
    await conn.execute(
        text(
            "INSERT INTO late_payments (booking_id, payment_id, amount, currency, received_at) "
            "VALUES (CAST(:b AS uuid), :p, :a, :c, :r) ON CONFLICT (payment_id) DO NOTHING"
        ),
        {
            "b": event.booking_id,
            "p": event.payment_id,
            "a": event.amount.amount,
            "c": event.amount.currency,
            "r": event.received_at,
        },
    )


async def unsettled_bookings(conn: AsyncConnection, limit: int = 100) -> list[str]:
    """Bookings with a late payment to settle and no saga running or parked (not locked)."""
    rows = await conn.execute(
        text(
            "SELECT DISTINCT lp.booking_id::text FROM late_payments lp "
            "WHERE lp.settled_at IS NULL AND lp.error IS NULL AND NOT EXISTS ("
            "  SELECT 1 FROM sagas s WHERE s.booking_id = lp.booking_id "
            "  AND s.status IN ('running', 'compensating', 'parked')) LIMIT :n"
        ),
        {"n": limit},
    )
    return [r[0] for r in rows]


async def settle_next(
    conn: AsyncConnection, outbox: Outbox, booking_id: str, timing: Timing
) -> bool:
    """Start the saga that settles the booking's oldest unsettled late payment, if the booking
    has no saga running or parked. Locks the booking, then its saga, as every path does."""
    booking = await repository.load(conn, booking_id, lock=True)
    if booking is None or await repository.lock_active_saga(conn, booking_id) is not None:
        return False
    payment = (
        await conn.execute(
            text(
                "SELECT payment_id, amount, currency, received_at FROM late_payments "
                "WHERE booking_id = CAST(:b AS uuid) AND settled_at IS NULL AND error IS NULL "
                "ORDER BY recorded_at, payment_id LIMIT 1 FOR UPDATE"
            ),
            {"b": booking_id},
        )
    ).first()
    if payment is None:
        return False
    await conn.execute(
        text("UPDATE late_payments SET settled_at = now() WHERE payment_id = :p"),
        {"p": payment.payment_id},
    )
    await _start(conn, outbox, booking, payment, timing)
    return True


async def _start(
    conn: AsyncConnection, outbox: Outbox, booking: Row[Any], payment: Row[Any], timing: Timing
) -> None:
    its_payment = payment.payment_id == booking.payment_id
    if its_payment and booking.paid_amount is not None:
        return  # the booking has this payment already (settled before)
    seq = await repository.next_saga_seq(conn, booking.id)
    amount = Decimal(payment.amount)
    data = replace(
        saga_data_of(booking),
        payment_id=payment.payment_id,
        paid_amount=(booking.paid_amount or 0) + amount,
        refund_amount=amount,  # what goes back if the booking cannot use it
        currency=payment.currency,
        verified_at=payment.received_at,
        claim_key=f"{booking.id}#{seq}",
        hold_id=None,
        reservation_id=None,
    )
    reinstate = its_payment and booking.status == BookingStatus.EXPIRED
    definition = LATE_PAYMENT if reinstate else LATE_PAYMENT_REFUND
    await orchestrator.begin(conn, outbox, booking.id, start(definition, data, seq), timing)


async def set_aside(conn: AsyncConnection, booking_id: str, why: str) -> None:
    """The booking's late payments keep failing to settle: an operator sees why."""
    await conn.execute(
        text(
            "UPDATE late_payments SET error = :why WHERE booking_id = CAST(:b AS uuid) "
            "AND settled_at IS NULL"
        ),
        {"b": booking_id, "why": why},
    )
