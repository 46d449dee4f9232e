"""VoidPayment (compensation) → PaymentVoided: the guest's money goes back, whatever happened
to it. An authorization is released; a payment already captured (a bank transfer verified just
before the saga gave up) is refunded in full, once (the refund key is the command's step).
Voiding twice, or a failed payment, is a no-op: a repeated void of a payment it refunded
answers with that same refund (the refund key finds it), and one whose money went back
otherwise (staff refunded it all) answers that nothing was left."""

from __future__ import annotations

from contracts.payment import PaymentVoided, VoidPayment
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging.runner import HandlerContext
from payment.adapters import repository
from payment.adapters.desk import PaymentDesk
from payment.domain.payments import PaymentStatus


def handler(desk: PaymentDesk):
    async def void_payment(ctx: HandlerContext, cmd: VoidPayment) -> None:
        payment = await repository.of_saga(
            ctx.conn, cmd.booking_id, cmd.payment_id, cmd.key, cmd.tenant_id
        )
        refunded = None
        if payment is not None:
            left = payment.captured_amount - payment.refunded_amount
            key = f"compensation:{cmd.step}"
            if payment.status is PaymentStatus.CAPTURED:
                earlier = await repository.refund_by_key(ctx.conn, payment.id, key)
                if earlier is not None:
                    refunded = payment.money(earlier)
                elif left > 0:
                    made = await desk.refund(
                        ctx.conn,
                        payment,
                        amount=left,
                        key=key,
                        reason="saga_compensation",
                        requested_by="saga",
                    )
                    refunded = payment.money(made.amount)
            else:
                await desk.void(ctx.conn, payment)
        await ctx.emit(
            BOOKING_SAGA_REPLIES,
            cmd.booking_id,
            PaymentVoided(
                booking_id=cmd.booking_id,
                step=cmd.step,
                payment_id=payment.id if payment else cmd.payment_id,
                refunded=refunded,
            ),
        )

    return void_payment
