"""VerifyPayment (staff saw a bank transfer arrive, through the booking API) → the waiting
authorize step hears PaymentAuthorized with who and when; after the payment deadline it is a
late payment (``payment.late_payment_received``). A payment that cannot be verified (not a
transfer, not this booking's) answers PaymentVerificationRefused to this command's step."""

from __future__ import annotations

from contracts.payment import PaymentVerificationRefused, VerifyPayment
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging.runner import HandlerContext
from payment.adapters import repository
from payment.adapters.desk import PaymentDesk
from payment.domain.payments import PaymentRuleBroken
from service_kit.clock import db_now


def handler(desk: PaymentDesk):
    async def verify_payment(ctx: HandlerContext, cmd: VerifyPayment) -> None:
        payment = await repository.of_saga(
            ctx.conn, cmd.booking_id, cmd.payment_id, "", cmd.tenant_id
        )
        reason = None
        if payment is None:
            reason = "payment_not_found"
        else:
            try:
                await desk.verify_transfer(
                    ctx.conn, payment, by=cmd.verified_by, now=await db_now(ctx.conn)
                )
            except PaymentRuleBroken as broken:
                reason = broken.code
        if reason is not None:
            await ctx.emit(
                BOOKING_SAGA_REPLIES,
                cmd.booking_id,
                PaymentVerificationRefused(
                    booking_id=cmd.booking_id,
                    step=cmd.step,
                    payment_id=cmd.payment_id,
                    reason=reason,
                ),
            )

    return verify_payment
