"""AuthorizePayment → PaymentAuthorized | PaymentDeclined, or PaymentActionRequired while the
guest must act (3-D Secure, a bank transfer) and the final answer when that completes or its
deadline passes (see PaymentDesk.authorize).

A provider that does not answer in time may have charged: the handler fails transiently, the
runner retries it, and the retry's provider call, with the same idempotency key, returns that
charge instead of making a second one.
"""

from __future__ import annotations

from contracts.payment import AuthorizePayment
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging.runner import HandlerContext
from payment.adapters.desk import PaymentDesk
from service_kit.clock import db_now


def handler(desk: PaymentDesk):
    async def authorize_payment(ctx: HandlerContext, cmd: AuthorizePayment) -> None:
        answer = await desk.authorize(ctx.conn, cmd, await db_now(ctx.conn))
        await ctx.emit(BOOKING_SAGA_REPLIES, cmd.booking_id, answer)

    return authorize_payment
