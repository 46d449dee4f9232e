"""Every participant reply (CapacityReserved, PaymentDeclined, ...) advances its saga.

One handler serves all reply types because the saga definition, not the handler, knows what a
reply means; the handler only locks the saga row, asks the domain, and applies the decision.
"""

from __future__ import annotations

from booking.adapters import orchestrator, repository
from booking.domain.saga import on_reply
from contracts.base import Reply
from messaging.errors import PermanentError
from messaging.runner import HandlerContext


def handler(step_timeout_s: float):
    async def saga_reply(ctx: HandlerContext, reply: Reply) -> None:
        saga = await repository.lock_saga(ctx.conn, reply.booking_id)
        if saga is None:
            raise PermanentError(f"reply {reply.ce_type()} for unknown saga {reply.booking_id}")
        await repository.log(ctx.conn, saga.booking_id, "reply", reply.ce_type(), reply.step)
        decision = on_reply(saga.state, reply)
        await orchestrator.apply(
            ctx.conn, ctx.outbox, saga.booking_id, decision, step_timeout_s=step_timeout_s
        )

    return saga_reply
