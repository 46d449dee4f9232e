"""RefundPayment → PaymentRefunded | PaymentRefundFailed, once per refund key."""

from __future__ import annotations

from contracts.payment import PaymentRefunded, PaymentRefundFailed, RefundPayment
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging.runner import HandlerContext
from payment.adapters import repository
from payment.adapters.desk import PaymentDesk
from payment.domain.payments import PaymentRuleBroken


def handler(desk: PaymentDesk):
    async def refund_payment(ctx: HandlerContext, cmd: RefundPayment) -> None:
        payment = await repository.of_saga(
            ctx.conn, cmd.booking_id, cmd.payment_id, "", cmd.tenant_id
        )
        reply: PaymentRefunded | PaymentRefundFailed
        if payment is None:
            reply = PaymentRefundFailed(
                booking_id=cmd.booking_id,
                step=cmd.step,
                payment_id=cmd.payment_id,
                reason="payment_not_found",
            )
        elif cmd.amount.currency != payment.currency:
            reply = PaymentRefundFailed(
                booking_id=cmd.booking_id,
                step=cmd.step,
                payment_id=payment.id,
                reason="currency_mismatch",
                detail=f"the payment is in {payment.currency}",
            )
        else:
            try:
                made = await desk.refund(
                    ctx.conn,
                    payment,
                    amount=cmd.amount.amount,
                    key=cmd.refund_key,
                    reason=cmd.reason,
                    requested_by="saga",
                )
            except PaymentRuleBroken as broken:
                reply = PaymentRefundFailed(
                    booking_id=cmd.booking_id,
                    step=cmd.step,
                    payment_id=payment.id,
                    reason=broken.code,
                    detail=str(broken),
                )
            else:
                reply = PaymentRefunded(
                    booking_id=cmd.booking_id,
                    step=cmd.step,
                    payment_id=payment.id,
                    refund_id=made.refund_id,
                    amount=payment.money(made.amount),
                    refunded_total=payment.money(made.refunded_total),
                )
        await ctx.emit(BOOKING_SAGA_REPLIES, cmd.booking_id, reply)

    return refund_payment
