"""AuthorizePayment → PaymentAuthorized | PaymentDeclined.

One payment per booking (unique ``booking_id``): a duplicated or retried command answers with
the payment that exists instead of calling the provider again. The provider call carries the
idempotency key ``<booking_id>:authorize`` so that even a call whose answer was lost (the
transaction rolled back after the provider charged) returns the same charge when retried.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text

from contracts.base import Money
from contracts.payment import AuthorizePayment, PaymentAuthorized, PaymentDeclined
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging.runner import HandlerContext
from payment.adapters import repository
from payment.domain.payments import CardProvider, PaymentStatus


def handler(provider: CardProvider):
    async def authorize_payment(ctx: HandlerContext, cmd: AuthorizePayment) -> None:
        payment = await repository.for_booking(ctx.conn, cmd.booking_id)
        if payment is None:
            key = f"{cmd.booking_id}:authorize"
            result = provider.authorize(
                payment_method=cmd.payment_method,
                amount=cmd.amount.amount,
                currency=cmd.amount.currency,
                idempotency_key=key,
            )
            payment_id = str(uuid.uuid4())
            status = PaymentStatus.AUTHORIZED if result.approved else PaymentStatus.DECLINED
            await ctx.conn.execute(
                text(
                    "INSERT INTO payments (id, booking_id, amount, currency, payment_method, provider, "
                    "provider_ref, status, decline_code) VALUES (:id, :b, :a, :c, :m, :p, :ref, :s, :d)"
                ),
                {
                    "id": payment_id,
                    "b": cmd.booking_id,
                    "a": cmd.amount.amount,
                    "c": cmd.amount.currency,
                    "m": cmd.payment_method,
                    "p": provider.name,
                    "ref": result.provider_ref,
                    "s": status.value,
                    "d": result.decline_code,
                },
            )
            await repository.log_call(ctx.conn, payment_id, "authorize", key, result)
            payment = await repository.for_booking(ctx.conn, cmd.booking_id)
            assert payment is not None
        if payment.status is PaymentStatus.DECLINED:
            reply: PaymentAuthorized | PaymentDeclined = PaymentDeclined(
                booking_id=cmd.booking_id,
                step=cmd.step,
                payment_id=payment.id,
                reason=payment.decline_code or "declined",
            )
        else:
            reply = PaymentAuthorized(
                booking_id=cmd.booking_id,
                step=cmd.step,
                payment_id=payment.id,
                amount=Money(amount=cmd.amount.amount, currency=payment.currency),
            )
        await ctx.emit(BOOKING_SAGA_REPLIES, cmd.booking_id, reply)

    return authorize_payment
