"""VoidPayment (compensation) → PaymentVoided. Voiding twice, or a declined payment, is a no-op."""

from __future__ import annotations

from contracts.payment import PaymentVoided, VoidPayment
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging.errors import PermanentError
from messaging.runner import HandlerContext
from payment.adapters import repository
from payment.domain.payments import CardProvider, NotVoidable, PaymentStatus, needs_void


def handler(provider: CardProvider):
    async def void_payment(ctx: HandlerContext, cmd: VoidPayment) -> None:
        payment = await repository.for_booking(ctx.conn, cmd.booking_id)
        try:
            void = payment is not None and needs_void(payment.status)
        except NotVoidable as broken:
            # Never silently keep a guest's money: a captured payment needs a refund, which the
            # saga must ask for explicitly. Dead-lettering the command makes it visible.
            raise PermanentError(f"payment {cmd.payment_id}: {broken}") from broken
        if void:
            assert payment is not None
            key = f"{cmd.booking_id}:void"
            result = provider.void(provider_ref=payment.provider_ref, idempotency_key=key)
            await repository.log_call(ctx.conn, payment.id, "void", key, result)
            await repository.set_status(ctx.conn, payment.id, PaymentStatus.VOIDED)
        await ctx.emit(
            BOOKING_SAGA_REPLIES,
            cmd.booking_id,
            PaymentVoided(booking_id=cmd.booking_id, step=cmd.step, payment_id=cmd.payment_id),
        )

    return void_payment
