"""VoidPayment (compensation) → PaymentVoided. Voiding twice, or a declined payment, is a no-op."""

from __future__ import annotations

from contracts.payment import PaymentVoided, VoidPayment
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging.errors import PermanentError
from messaging.runner import HandlerContext
from payment.adapters import repository
from payment.domain.payments import (
    CardProvider,
    PaymentRuleBroken,
    PaymentStatus,
    next_status_on_void,
)


def handler(provider: CardProvider):
    async def void_payment(ctx: HandlerContext, cmd: VoidPayment) -> None:
        payment = await repository.for_booking(ctx.conn, cmd.booking_id)
        if payment is not None and payment.status is PaymentStatus.AUTHORIZED:
            try:
                new_status = next_status_on_void(payment.status)
            except PaymentRuleBroken as broken:  # pragma: no cover - guarded by the status check
                raise PermanentError(str(broken)) from broken
            key = f"{cmd.booking_id}:void"
            result = provider.void(provider_ref=payment.provider_ref, idempotency_key=key)
            await repository.log_call(ctx.conn, payment.id, "void", key, result)
            await repository.set_status(ctx.conn, payment.id, new_status)
        elif payment is not None and payment.status is PaymentStatus.CAPTURED:
            # Never silently keep a guest's money: a captured payment needs a refund, which the
            # saga must ask for explicitly. Parking the message in the DLQ makes it visible.
            raise PermanentError(f"payment {payment.id} is captured; void is not possible")
        await ctx.emit(
            BOOKING_SAGA_REPLIES,
            cmd.booking_id,
            PaymentVoided(booking_id=cmd.booking_id, step=cmd.step, payment_id=cmd.payment_id),
        )

    return void_payment
