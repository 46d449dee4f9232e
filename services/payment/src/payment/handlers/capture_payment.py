"""CapturePayment → PaymentCaptured | PaymentCaptureFailed. Capturing twice charges once."""

from __future__ import annotations

from contracts.base import Money
from contracts.payment import CapturePayment, PaymentCaptured, PaymentCaptureFailed
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging.runner import HandlerContext
from payment.adapters import repository
from payment.domain.payments import (
    CardProvider,
    PaymentRuleBroken,
    PaymentStatus,
    next_status_on_capture,
)


def handler(provider: CardProvider):
    async def capture_payment(ctx: HandlerContext, cmd: CapturePayment) -> None:
        payment = await repository.for_booking(ctx.conn, cmd.booking_id)
        reply: PaymentCaptured | PaymentCaptureFailed
        if payment is None or payment.id != cmd.payment_id:
            reply = PaymentCaptureFailed(
                booking_id=cmd.booking_id,
                step=cmd.step,
                payment_id=cmd.payment_id,
                reason="payment_not_found",
            )
        else:
            try:
                new_status = next_status_on_capture(payment.status)
            except PaymentRuleBroken as broken:
                reply = PaymentCaptureFailed(
                    booking_id=cmd.booking_id,
                    step=cmd.step,
                    payment_id=payment.id,
                    reason=broken.code,
                )
            else:
                if payment.status is not PaymentStatus.CAPTURED:
                    key = f"{cmd.booking_id}:capture"
                    result = provider.capture(
                        provider_ref=payment.provider_ref, idempotency_key=key
                    )
                    await repository.log_call(ctx.conn, payment.id, "capture", key, result)
                    await repository.set_status(ctx.conn, payment.id, new_status)
                reply = PaymentCaptured(
                    booking_id=cmd.booking_id,
                    step=cmd.step,
                    payment_id=payment.id,
                    amount=Money.of(payment.amount, payment.currency),
                )
        await ctx.emit(BOOKING_SAGA_REPLIES, cmd.booking_id, reply)

    return capture_payment
