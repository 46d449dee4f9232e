"""``payment.late_payment_received``: a bank transfer was verified after its booking gave up
on it. The payment is recorded durably first; it is settled now when the booking has no saga
running or parked, else by the settling sweep once that saga has ended
(``booking.adapters.late_payments``): reinstated if its capacity can be had again, otherwise
refunded in full. Nothing here waits or fails for a running saga: the event is applied."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from booking.adapters import late_payments, repository
from booking.adapters.orchestrator import Timing
from contracts.payment import LatePaymentReceived
from messaging.jobs import ItemSweep, periodic
from messaging.outbox import Outbox
from messaging.runner import HandlerContext
from service_kit.ids import canonical_uuid


def handler(timing: Timing):
    async def late_payment(ctx: HandlerContext, event: LatePaymentReceived) -> None:
        if canonical_uuid(event.booking_id) is None:
            return  # not ours (another platform's booking on a shared topic)
        if not await repository.lock_booking(ctx.conn, event.booking_id):
            return
        await late_payments.record(ctx.conn, event)
        await late_payments.settle_next(ctx.conn, ctx.outbox, event.booking_id, timing)

    return late_payment


def settle_job(
    engine: AsyncEngine, outbox: Outbox, timing: Timing, interval_s: float
) -> Callable[[], Awaitable[None]]:
    """Late payments recorded while their booking's saga ran are settled after it ends."""

    async def settle(conn: AsyncConnection, booking_id: str) -> bool:
        return await late_payments.settle_next(conn, outbox, booking_id, timing)

    async def set_aside(conn: AsyncConnection, booking_id: str, exc: Exception) -> None:
        await late_payments.set_aside(conn, booking_id, f"settling failed: {type(exc).__name__}")

    bookings = ItemSweep("late-payment-settlement", key=str, work=settle, park=set_aside)

    async def tick() -> bool:
        async with engine.connect() as conn:
            due = await late_payments.unsettled_bookings(conn)
        return await bookings.run(engine, due) > 0

    return periodic("late-payment-settlement", interval_s, tick)
