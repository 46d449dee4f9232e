"""``payment.late_payment_received``: a bank transfer was verified after its booking gave up
on it. An expired booking is reinstated if its capacity can be had again (the late-payment
saga), otherwise, and for a booking that was cancelled meanwhile or a payment the booking does not
use (a modification that gave up waiting for it), the money goes back in full.
A booking whose saga is still running (a rare race with the deadline) gets the event again
later: the handler fails transiently and the consumer retries it."""

from __future__ import annotations

from dataclasses import replace

from booking.adapters import orchestrator, repository
from booking.adapters.orchestrator import Timing, saga_data_of
from booking.domain.booking import BookingStatus
from booking.domain.saga import start
from booking.domain.sagas import LATE_PAYMENT, LATE_PAYMENT_REFUND
from contracts.payment import LatePaymentReceived
from messaging.errors import TransientError
from messaging.runner import HandlerContext
from service_kit.clock import db_now
from service_kit.ids import canonical_uuid


def handler(timing: Timing):
    async def late_payment(ctx: HandlerContext, event: LatePaymentReceived) -> None:
        ours = canonical_uuid(event.booking_id) is not None
        booking = await repository.load(ctx.conn, event.booking_id, lock=True) if ours else None
        if booking is None:
            return  # not ours (another platform's booking on a shared topic)
        if await repository.lock_active_saga(ctx.conn, booking.id) is not None:
            raise TransientError("the booking's saga is still running")
        its_payment = event.payment_id == booking.payment_id
        if its_payment and booking.paid_amount is not None:
            return  # the booking has this payment already (settled before)
        seq = await repository.next_saga_seq(ctx.conn, booking.id)
        data = replace(
            saga_data_of(booking),
            payment_id=event.payment_id,
            paid_amount=(booking.paid_amount or 0) + event.amount.amount,
            refund_amount=event.amount.amount,  # what goes back if the booking cannot use it
            currency=event.amount.currency,
            verified_at=event.received_at or await db_now(ctx.conn),
            claim_key=f"{booking.id}#{seq}",
            hold_id=None,
            reservation_id=None,
        )
        reinstate = its_payment and booking.status == BookingStatus.EXPIRED
        definition = LATE_PAYMENT if reinstate else LATE_PAYMENT_REFUND
        await orchestrator.begin(
            ctx.conn, ctx.outbox, booking.id, start(definition, data, seq), timing
        )

    return late_payment
