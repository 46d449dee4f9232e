"""Every participant reply (CapacityReserved, PaymentDeclined, ...) advances its booking's
active saga.

One handler serves all reply types because the saga definition, not the handler, knows what a
reply means; the handler only locks the saga row, asks the domain, and applies the decision.
A reply when the booking has no active saga (a late duplicate after the saga ended) is logged
and changes nothing. Inventory's answers to the waitlist's hold requests (addressed to a
waitlist entry) go to the waitlist.
"""

from __future__ import annotations

from booking.adapters import orchestrator, repository, waitlist
from booking.adapters.orchestrator import Timing
from booking.domain.saga_engine import on_reply
from contracts.base import Reply
from contracts.inventory import CapacityReservationRejected, CapacityReserved
from messaging.errors import PermanentError
from messaging.runner import HandlerContext
from service_kit.ids import canonical_uuid


def handler(timing: Timing, offer_s: float):
    async def saga_reply(ctx: HandlerContext, reply: Reply) -> None:
        if reply.step in (waitlist.OFFER_STEP, waitlist.RELEASE_STEP):
            if reply.step == waitlist.OFFER_STEP and isinstance(
                reply, CapacityReserved | CapacityReservationRejected
            ):
                await waitlist.on_offer_reply(ctx.conn, ctx.outbox, reply, offer_s)
            return
        # Booking first, then its saga: the order every path takes (no deadlock with a cancel).
        locked = (
            await repository.lock_for_reply(ctx.conn, reply.booking_id)
            if canonical_uuid(reply.booking_id) is not None
            else None
        )
        if locked is None:
            raise PermanentError(f"reply {reply.ce_type()} for unknown booking")
        saga, now = locked
        if saga is None:
            await repository.log(
                ctx.conn,
                reply.booking_id,
                "reply",
                reply.ce_type(),
                reply.step,
                "ignored: no saga of this booking is running",
            )
            return
        received = (saga.booking_id, "reply", reply.ce_type(), reply.step, None, saga.state.seq)
        decision = on_reply(saga.state, reply)
        await orchestrator.apply(
            ctx.conn, ctx.outbox, saga, decision, timing, now=now, logged=(received,)
        )

    return saga_reply
