"""CapturePayment → PaymentCaptured | PaymentCaptureFailed. Capturing twice charges once."""

from __future__ import annotations

from contracts.payment import CapturePayment, PaymentCaptured, PaymentCaptureFailed
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging.runner import HandlerContext
from payment.adapters import repository
from payment.adapters.desk import PaymentDesk
from payment.domain.payments import PaymentRuleBroken


def handler(desk: PaymentDesk):
    async def capture_payment(ctx: HandlerContext, cmd: CapturePayment) -> None:
        payment = await repository.of_saga(
            ctx.conn, cmd.booking_id, cmd.payment_id, "", cmd.tenant_id
        )
        reply: PaymentCaptured | PaymentCaptureFailed
        if payment is None:
            reply = PaymentCaptureFailed(
                booking_id=cmd.booking_id,
                step=cmd.step,
                payment_id=cmd.payment_id,
                reason="payment_not_found",
            )
        else:
            try:
                captured = await desk.capture(ctx.conn, payment)
            except PaymentRuleBroken as broken:
                reply = PaymentCaptureFailed(
                    booking_id=cmd.booking_id,
                    step=cmd.step,
                    payment_id=payment.id,
                    reason=broken.code,
                )
            else:
                reply = PaymentCaptured(
                    booking_id=cmd.booking_id,
                    step=cmd.step,
                    payment_id=captured.id,
                    amount=captured.money(captured.captured_amount),
                )
        await ctx.emit(BOOKING_SAGA_REPLIES, cmd.booking_id, reply)

    return capture_payment
