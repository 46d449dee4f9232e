"""VoidPayment (compensation) → PaymentVoided. Voiding twice, or a failed payment, is a no-op."""

from __future__ import annotations

from contracts.payment import PaymentVoided, VoidPayment
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging.errors import PermanentError
from messaging.runner import HandlerContext
from payment.adapters import repository
from payment.adapters.desk import PaymentDesk
from payment.domain.payments import NotVoidable


def handler(desk: PaymentDesk):
    async def void_payment(ctx: HandlerContext, cmd: VoidPayment) -> None:
        payment = await repository.for_booking(ctx.conn, cmd.booking_id)
        if payment is not None:
            try:
                await desk.void(ctx.conn, payment)
            except NotVoidable as broken:
                # Never silently keep a guest's money: a captured payment needs a refund, which
                # the saga must ask for explicitly. Dead-lettering the command makes it visible.
                raise PermanentError(f"payment {cmd.payment_id}: {broken}") from broken
        await ctx.emit(
            BOOKING_SAGA_REPLIES,
            cmd.booking_id,
            PaymentVoided(booking_id=cmd.booking_id, step=cmd.step, payment_id=cmd.payment_id),
        )

    return void_payment
