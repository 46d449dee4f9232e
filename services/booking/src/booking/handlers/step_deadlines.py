"""A step that got no reply before its deadline is resent, failed, or parked; a payment that
waited past its deadline ends the wait.

Runs in every booking worker replica; ``FOR UPDATE SKIP LOCKED`` on the booking hands each due
saga to one (and leaves it to a request or reply that holds the booking right now).

Before a step is resent the timer asks whether its participant has consumed the command: the
command's outbox row says where it landed (partition and offset), the participant's consumer
group says how far it has committed. A command still waiting in Kafka is not sent again (the
participant lags; a second copy only adds to its backlog); the step fails only at its deadline.
The same holds when the booking workers themselves are behind on ``booking.saga.replies``:
the reply may be waiting there, unread, so nothing is resent while replies are unread (a
chaos run under load resent and then failed steps whose replies were queued behind a paused
worker). When Kafka cannot be asked, the command counts as not consumed (nothing is resent). Each saga
is handled in a transaction of its own (``messaging.jobs.ItemSweep``): a saga whose timer
raises (an unknown saga type during a rolling upgrade, data this build cannot read) rolls back
alone, and after three rounds it is parked with its error for an operator, so every other
saga's timer keeps running.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiokafka import TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from booking.adapters import orchestrator, repository
from booking.adapters.orchestrator import COMMAND_TOPICS, Timing
from booking.domain.saga_engine import on_timeout
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging import admin, failpoints, logcontext, tracing
from messaging.jobs import ItemSweep, periodic
from messaging.outbox import Outbox

log = logging.getLogger(__name__)

Due = tuple[str, str]  # (saga id, booking id)

# The consumer group of each command topic's participant (service_kit.runtime names them), and
# the booking workers' own, which reads the replies.
_GROUPS = {t.name: f"{participant.value}-worker" for participant, t in COMMAND_TOPICS.items()}
REPLY_GROUP = "booking-worker"
_WHERE = text(
    "SELECT topic, kafka_partition, kafka_offset FROM outbox WHERE message_id = CAST(:m AS uuid)"
)


class CommandProgress:
    """How far each participant has consumed its command topic, and whether the booking
    workers have read every reply, read once per sweep."""

    def __init__(self, bootstrap: str | None) -> None:
        self.bootstrap = bootstrap
        # Kept open: a sweep that finds due sagas runs again at once, and under a backlog
        # that is all the time (a new connection each would mean a TLS and SASL handshake each).
        self.session = admin.AdminSession(bootstrap) if bootstrap else None
        self.committed: dict[str, dict[TopicPartition, int]] = {}
        self.replies_unread = False

    async def refresh(self) -> None:
        if self.session is None:
            return
        try:
            # One read of every group's offsets: the participants' (how far they consumed their
            # commands) and the booking workers' (whether a reply is still unread).
            rows = await self.session.lag(
                sorted({*_GROUPS.values(), REPLY_GROUP}),
                topics={REPLY_GROUP: [BOOKING_SAGA_REPLIES.name]},
            )
            committed: dict[str, dict[TopicPartition, int]] = {}
            for row in rows:
                if row.committed is not None:
                    tp = TopicPartition(row.topic, row.partition)
                    committed.setdefault(row.group, {})[tp] = row.committed
            self.committed = committed
            self.replies_unread = any(
                row.lag > 0
                for row in rows
                if row.group == REPLY_GROUP and row.topic == BOOKING_SAGA_REPLIES.name
            )
        except Exception as exc:  # Kafka away: nothing counts as consumed, nothing is resent
            log.warning("cannot read the participants' progress (%s)", type(exc).__name__)
            self.committed = {}

    async def consumed(self, conn: AsyncConnection, command_id: str | None) -> bool:
        """Whether the participant has committed past the command (so it was applied, or
        dead-lettered, and no reply is coming)."""
        if self.bootstrap is None:
            return True  # nothing to ask: resend on every timeout, as a plain timer would
        if command_id is None or self.replies_unread:
            return False
        row = (await conn.execute(_WHERE, {"m": command_id})).first()
        if row is None or row.kafka_offset is None:
            return False  # not published yet (the relay is behind, or Kafka is away)
        committed = self.committed.get(_GROUPS.get(row.topic, ""), {})
        return committed.get(TopicPartition(row.topic, row.kafka_partition), -1) > row.kafka_offset


def sweep(
    outbox: Outbox, *, timing: Timing, max_attempts: int, progress: CommandProgress
) -> ItemSweep[Due]:
    async def timed_out(conn: AsyncConnection, due: Due) -> bool:
        saga = await repository.lock_due(conn, *due)
        if saga is None:
            return False  # another replica, a reply or a request has it
        with logcontext.scope(), tracing.span(None, "saga step deadline"):
            decision = on_timeout(
                saga.state,
                max_attempts,
                consumed=await progress.consumed(conn, saga.command_id),
                overdue=timing.overdue(saga.step_age_s),
            )
            await orchestrator.apply(conn, outbox, saga, decision, timing)
        failpoints.hit(failpoints.SWEEPER_BEFORE_COMMIT, f"saga-step-deadlines:{due[1]}")
        return True

    async def park(conn: AsyncConnection, due: Due, exc: Exception) -> None:
        await repository.park_unreadable(
            conn, due[0], due[1], f"timer failed: {type(exc).__name__}"
        )

    return ItemSweep("saga-step-deadlines", key=lambda d: d[0], work=timed_out, park=park)


async def sweep_once(
    engine: AsyncEngine, items: ItemSweep[Due], progress: CommandProgress, limit: int = 100
) -> int:
    async with engine.connect() as conn:
        due = await repository.due_sagas(conn, limit)
    if not due:
        return 0
    await progress.refresh()
    return await items.run(engine, due)


def job(
    engine: AsyncEngine,
    outbox: Outbox,
    *,
    timing: Timing,
    max_attempts: int,
    interval_s: float,
    bootstrap: str | None,
) -> Callable[[], Awaitable[None]]:
    progress = CommandProgress(bootstrap)
    items = sweep(outbox, timing=timing, max_attempts=max_attempts, progress=progress)

    async def tick() -> bool:
        handled = await sweep_once(engine, items, progress)
        if handled:
            log.info("handled %d sagas past their step deadline", handled)
        return handled > 0

    return periodic(
        "saga-step-deadlines",
        interval_s,
        tick,
        finally_=progress.session.close if progress.session else None,
    )
