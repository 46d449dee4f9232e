"""The consumer runner: faust-streaming agents that apply each message once, retry what is
transient for as long as it lasts and dead-letter only what can never succeed.

faust acknowledges a message when an agent raises (its stream's ``finally`` acks), which would
silently drop it. So agents here iterate a ``noack`` stream and ack a record only after
:meth:`ConsumerRunner.process` returned: the handler's effect committed (with the inbox claim,
in one transaction) or the record was published to ``<topic>.dlq``. Anything that escapes as a
``BaseException`` leaves the record unacked: a cancelled agent (shutdown) re-raises, anything
else ends the process, and the record is delivered again.

**Batches.** The records a topic's agent already holds when it is free (fetched, queued, never
waited for) are applied together, up to ``max_batch``: one poison note per partition, one
transaction with one inbox insert for all of them, each handler in turn under its own span and
tenant, then one ack each. A batch that fails transiently is retried whole; one that fails
otherwise is applied again record by record, so only the record at fault is dead-lettered.
Under a light load every batch is one record and the path is the one below.

The policy (docs/ARCHITECTURE.md, "Failure model"):

* **Transient** (``messaging.errors.is_transient``: the database or broker unavailable,
  connection errors, serialization failures, deadlocks, timeouts) retries in place without a
  budget, with capped exponential backoff and jitter, holding the partition. Readiness reports
  the stall and ``consumer_stalled_partitions`` counts it. A record stalled past
  ``handoff_after_s`` makes the process give up its partitions (it stops, and a healthy
  replica takes them over; the restarted process waits for its database before it rejoins).
* **Permanent** (an invalid record, an unknown command, ``PermanentError``, any other
  exception): published unchanged to ``<topic>.dlq`` and the partition moves on.
* **Poison**: a record that processes kept dying on (``messaging.deliveries``) goes to the DLQ
  after ``max_crashes`` of them instead of crash-looping the worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts import cloudevents as ce
from contracts.base import ContractMessage
from contracts.topics import TopicSpec
from messaging import errors, failpoints, logcontext, security, tenancy, tracing
from messaging.deliveries import Deliveries
from messaging.envelope import Envelope, Headers
from messaging.errors import PermanentError, UnknownMessageType, is_transient
from messaging.inbox import Inbox
from messaging.kafka import FETCH_MAX_WAIT_MS
from messaging.outbox import Outbox

T = TypeVar("T")

log = logging.getLogger(__name__)

CONSUMED = Counter(
    "consumer_messages_total", "Messages handled by outcome", ["consumer", "topic", "outcome"]
)
HANDLE_SECONDS = Histogram(
    "consumer_handle_seconds", "Time to apply one message", ["consumer", "topic"]
)
DEAD_LETTERED = Counter("dlq_messages_total", "Messages sent to a DLQ", ["consumer", "topic"])
TRANSIENT_FAILURES = Counter(
    "consumer_transient_failures_total",
    "Attempts to apply a message that failed transiently (retried in place)",
    ["consumer", "topic"],
)
BATCH_SIZE = Histogram(
    "consumer_batch_records",
    "Records applied in one transaction",
    ["consumer", "topic"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
STALLED = Gauge(
    "consumer_stalled_partitions",
    "Partitions whose current message is failing transiently and being retried",
    ["consumer", "topic"],
)


class PoisonMessage(PermanentError):
    """Processes kept dying while applying this record."""


@dataclass(frozen=True)
class HandlerContext:
    """What a handler gets: the open transaction and the outbox to queue messages in."""

    conn: AsyncConnection
    outbox: Outbox
    envelope: Envelope

    async def emit(self, topic: TopicSpec, key: str, message: ContractMessage) -> str:
        """Queue a message in this handler's transaction (commits with the effect, or not at all)."""
        return await self.outbox.add(self.conn, topic=topic, key=key, message=message)


class Handler(Protocol):
    def __call__(self, ctx: HandlerContext, message: Any, /) -> Awaitable[None]: ...


@dataclass(frozen=True)
class Subscription:
    """A topic and the handlers of the message types this consumer understands on it.

    ``ignore_unknown``: event topics grow new types that old consumers may skip; command topics
    must not (an unknown command is dead-lettered).
    """

    topic: TopicSpec
    handlers: Mapping[type[ContractMessage], Handler]
    ignore_unknown: bool = False
    catch_all: Handler | None = None

    def handler_for(self, message: ContractMessage) -> Handler | None:
        return self.handlers.get(type(message)) or self.catch_all


@dataclass(frozen=True)
class RetryPolicy:
    """How the runner waits out transient failures (there is no limit on their number)."""

    initial_s: float = 0.05
    max_s: float = 5.0
    # A record whose application was begun by this many processes that then died is poison.
    max_crashes: int = 3
    # Stalled this long on one record: give up the partitions (0: never).
    handoff_after_s: float = 60.0
    # Stalled this long: readiness says so.
    stall_report_s: float = 5.0
    # How long the database may take to answer before a failure is blamed on the message.
    probe_timeout_s: float = 5.0

    def delay(self, attempt: int) -> float:
        """Capped exponential backoff with full jitter on top of the base: never a herd."""
        base = min(self.max_s, self.initial_s * (2 ** min(attempt - 1, 30)))
        return base / 2 + random.uniform(0, base / 2)


class _LowLatencyConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # faust hardcodes fetch_max_wait_ms=1500 for worker consumers; the saga path needs the
        # broker to park an idle fetch only briefly. aiokafka reads this attribute in start().
        if not hasattr(consumer, "_fetch_max_wait_ms"):
            raise RuntimeError("aiokafka consumer layout changed: cannot set fetch wait")
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", FETCH_MAX_WAIT_MS)
        return consumer


class _LowLatencyConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _LowLatencyConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _LowLatencyTransport(faust_aiokafka.Transport):
    Consumer = _LowLatencyConsumer


class PlatformFaustApp(faust.App):
    """A faust App whose worker consumers use the platform's low-latency fetch settings."""

    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS

    def _new_transport(self) -> Any:
        return _LowLatencyTransport(self.conf.broker_consumer, self)


def _header(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key == name and value is not None:
            return value.decode(errors="replace")
    return None


def _tenant_of(message: ContractMessage) -> str | None:
    return getattr(message, "tenant_id", None)


@dataclass(frozen=True)
class _Decoded:
    """A record of a batch, decoded, with the handler that applies it."""

    record: Any
    headers: Headers
    envelope: Envelope
    message: ContractMessage
    handler: Handler


def _next_is_ready(stream: Any) -> bool:
    """Whether the stream's channel already holds a record that its iterator would hand over
    at once: an event of the consumer's current generation while the flow is on. Anything
    else (an empty queue, a record of a revoked generation the iterator would skip) ends the
    batch, so collecting one never waits. Read from faust's queue without taking from it (an
    unexpected layout only means batches of one)."""
    queue = getattr(getattr(stream, "channel", None), "queue", None)
    pending = getattr(queue, "_queue", None)
    if not pending:
        return False
    head = pending[0]
    message = getattr(head, "message", None)
    app = stream.app
    return (
        message is not None
        and message.generation_id == app.consumer_generation_id
        and app.flow_control.is_active()
    )


@dataclass
class ConsumerRunner:
    """Builds the faust app of one service's worker and owns the per-message policy."""

    consumer_name: str  # also the Kafka consumer group id
    bootstrap_servers: str
    engine: AsyncEngine
    outbox: Outbox
    inbox: Inbox
    subscriptions: Iterable[Subscription]
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # How long a dead worker keeps its partitions before the group reassigns them.
    session_timeout_s: float = 10.0
    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS
    # At most this many already-fetched records are applied in one transaction (1: one each).
    max_batch: int = 64
    background: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # The poison-message counter; by default on ``engine`` (give it a bookkeeping engine).
    deliveries: Deliveries | None = None
    _app: faust.App | None = None
    # (topic, partition) -> when its current record began failing (monotonic seconds).
    _stalled: dict[tuple[str, int], float] = field(default_factory=dict)
    _handing_off: bool = False

    def __post_init__(self) -> None:
        if self.deliveries is None:
            self.deliveries = Deliveries(self.engine, self.consumer_name)

    def stall(self) -> str | None:
        """What readiness reports: the longest stall past ``stall_report_s``, if any."""
        if not self._stalled:
            return None
        (topic, partition), since = min(self._stalled.items(), key=lambda kv: kv[1])
        age = time.monotonic() - since
        if age < self.retry.stall_report_s:
            return None
        return f"stalled {age:.0f}s on {topic}[{partition}]"

    def _subject(self, record: Any) -> str:
        """What a failpoint in this consumer matches on: ``<consumer>:<topic>:<key>``."""
        key = record.key.decode(errors="replace") if record.key else ""
        return f"{self.consumer_name}:{record.topic}:{key}"

    def build_app(self) -> faust.App:
        app = PlatformFaustApp(
            self.consumer_name,
            broker=f"kafka://{self.bootstrap_servers}",
            broker_credentials=security.KafkaSecurity.from_env().faust_credentials(),
            value_serializer="raw",
            key_serializer="raw",
            web_enabled=False,
            topic_disable_leader=True,
            topic_allow_declare=False,  # topics are declared in contracts, created by our code
            consumer_auto_offset_reset="earliest",
            producer_linger=0.0,
            producer_acks=-1,
            broker_commit_interval=1.0,
            broker_session_timeout=self.session_timeout_s,
            broker_heartbeat_interval=max(0.5, self.session_timeout_s / 5),
            stream_wait_empty=False,
            # No faust tables are used; keep its (empty) data directory out of the cwd.
            datadir=Path(tempfile.gettempdir()) / f"{self.consumer_name}-faust",
        )
        app.fetch_max_wait_ms = self.fetch_max_wait_ms
        for sub in self.subscriptions:
            self._register(app, sub)
        for job in self.background:
            app.task(job)
        self._app = app
        return app

    def _register(self, app: faust.App, sub: Subscription) -> None:
        topic = app.topic(
            sub.topic.name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

        async def agent(stream: Any) -> None:
            manual = stream.noack()
            events = manual.events().__aiter__()
            while True:
                try:
                    batch = [await events.__anext__()]
                    while len(batch) < self.max_batch and _next_is_ready(manual):
                        batch.append(await events.__anext__())
                except StopAsyncIteration:
                    return
                try:
                    await self.process_many(sub, [event.message for event in batch])
                except asyncio.CancelledError:
                    raise  # stopping: the records stay unacked and are delivered again
                except BaseException as exc:
                    # Never acked: the next process gets the records (and counts the crash).
                    log.critical("consumer %s ends: %s", self.consumer_name, errors.describe(exc))
                    os._exit(70)
                for event in batch:
                    failpoints.hit(failpoints.CONSUMER_AFTER_COMMIT, self._subject(event.message))
                    await manual.ack(event)

        agent.__name__ = agent.__qualname__ = f"{sub.topic.name.replace('.', '_')}_agent"
        app.agent(topic, name=f"{self.consumer_name}.{sub.topic.name}")(agent)

    @contextmanager
    def _observed(self, sub: Subscription, record: Any, headers: Headers) -> Iterator[Any]:
        """One record's CONSUMER span under its ``ce_traceparent`` and its log scope (the
        message id, and once decoded its type and booking)."""
        topic = sub.topic.name
        message_id = _header(headers, ce.H_ID)
        with (
            logcontext.scope(message_id=message_id, topic=topic),
            tracing.span(
                _header(headers, ce.H_TRACEPARENT),
                f"process {topic}",
                kind=tracing.SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "process",
                    "messaging.destination.name": topic,
                    "messaging.destination.partition.id": str(record.partition),
                    "messaging.kafka.offset": record.offset,
                    "messaging.consumer.group.name": self.consumer_name,
                    "messaging.message.id": message_id or "",
                },
            ) as span,
        ):
            yield span

    def _count(self, topic: str, outcome: str, seconds: float) -> None:
        CONSUMED.labels(self.consumer_name, topic, outcome).inc()
        HANDLE_SECONDS.labels(self.consumer_name, topic).observe(seconds)

    async def process(self, sub: Subscription, record: Any, starts: int | None = None) -> None:
        """Apply one record or dead-letter it. Never raises (faust would ack and drop).

        ``starts``: the record's poison note, when a batch's note already took it."""
        started = time.perf_counter()
        headers: Headers = list(record.headers or ())
        with self._observed(sub, record, headers) as span:
            outcome = await self._process(sub, record, headers, span, starts)
            span.set_attribute("booking_platform.outcome", outcome)
            self._count(sub.topic.name, outcome, time.perf_counter() - started)

    async def process_many(self, sub: Subscription, records: list[Any]) -> None:
        """Apply records of one topic in order, in one transaction where they allow it
        (``max_batch``; see the module docstring). Never raises, as :meth:`process`."""
        decoded = self._decode_all(sub, records) if len(records) > 1 else None
        if decoded is None:
            for record in records:
                await self.process(sub, record)
            return
        deliveries = self.deliveries
        assert deliveries is not None
        firsts: dict[tuple[str, int], int] = {}
        for record in records:
            firsts.setdefault((record.topic, record.partition), record.offset)
        starts = await self.until_done(
            records[0], lambda: deliveries.begin_many([(t, p, o) for (t, p), o in firsts.items()])
        )
        if any(n != 1 for n in starts.values()):
            # A process ended (or was killed) inside this range before: one at a time, each
            # noted, so a record that kills processes is found and dead-lettered.
            await self._one_by_one(sub, records, starts)
            return
        started = time.perf_counter()
        try:
            applied = await self.until_done(records[0], lambda: self.apply_many(sub, decoded))
        except Exception as exc:
            log.warning(
                "%s: a batch of %d failed (%s); applying its records one by one",
                sub.topic.name,
                len(records),
                type(exc).__name__,
            )
            await self._one_by_one(sub, records, starts)
            return
        BATCH_SIZE.labels(self.consumer_name, sub.topic.name).observe(len(records))
        each = (time.perf_counter() - started) / len(records)
        for fresh in applied:
            self._count(sub.topic.name, "applied" if fresh else "duplicate", each)

    async def _one_by_one(
        self, sub: Subscription, records: list[Any], noted: dict[tuple[str, int], int]
    ) -> None:
        """Each record on its own; the first of each partition with the note already taken."""
        taken = dict(noted)
        for record in records:
            await self.process(sub, record, taken.pop((record.topic, record.partition), None))

    def _decode_all(self, sub: Subscription, records: list[Any]) -> list[_Decoded] | None:
        """The batch decoded, or None when any record of it is not simply applied (it does
        not decode, is ignored or has no handler): then each goes its own way."""
        decoded: list[_Decoded] = []
        for record in records:
            headers: Headers = list(record.headers or ())
            try:
                envelope = Envelope.from_record(record.key, record.value, headers)
                message = envelope.decode()
            except Exception:
                return None
            handler = sub.handler_for(message)
            if handler is None:
                return None
            decoded.append(_Decoded(record, headers, envelope, message, handler))
        return decoded

    async def apply_many(self, sub: Subscription, batch: list[_Decoded]) -> list[bool]:
        """One transaction for the batch: one inbox insert, then each new record's handler in
        order, acting for its tenant (a change of tenant within the batch is one
        ``set_config`` local to the transaction). Per record: whether it was applied (False:
        applied before, or a second copy in the batch)."""
        with tenancy.acting_for(_tenant_of(batch[0].message)):
            told = tenancy.current()  # what the connection is told at checkout
            async with self.engine.begin() as conn:
                fresh = await self.inbox.claim_many(
                    conn, self.consumer_name, [item.envelope for item in batch]
                )
                applied: list[bool] = []
                for item in batch:
                    key = (item.envelope.source, item.envelope.id)
                    if key not in fresh:
                        applied.append(False)
                        continue
                    fresh.discard(key)
                    with (
                        tenancy.acting_for(_tenant_of(item.message)),
                        self._observed(sub, item.record, item.headers) as span,
                    ):
                        if tenancy.current() != told:
                            told = tenancy.current()
                            await conn.execute(
                                text("SELECT set_config(:setting, :tenant, true)"),
                                {"setting": tenancy.SETTING, "tenant": told},
                            )
                        logcontext.add(
                            ce_type=item.envelope.type,
                            booking_id=getattr(item.message, "booking_id", None),
                        )
                        failpoints.hit(
                            failpoints.HANDLER_CRASH, f"{self.consumer_name}:{item.envelope.id}"
                        )
                        await item.handler(
                            HandlerContext(conn, self.outbox, item.envelope), item.message
                        )
                        span.set_attribute("booking_platform.outcome", "applied")
                    applied.append(True)
        return applied

    async def _process(
        self,
        sub: Subscription,
        record: Any,
        headers: Headers,
        span: tracing.Span,
        starts: int | None = None,
    ) -> str:
        try:
            outcome = await self._decode_and_apply(sub, record, headers, starts)
        except Exception as exc:
            tracing.fail(span, exc)
            await self.dead_letter(sub.topic, record, headers, exc)
            outcome = "dead_lettered"
        return outcome

    async def _decode_and_apply(
        self, sub: Subscription, record: Any, headers: Headers, starts: int | None = None
    ) -> str:
        envelope = Envelope.from_record(record.key, record.value, headers)
        logcontext.add(ce_type=envelope.type)
        try:
            message = envelope.decode()
        except UnknownMessageType:
            if sub.ignore_unknown:
                return "ignored"
            raise
        logcontext.add(booking_id=getattr(message, "booking_id", None))
        handler = sub.handler_for(message)
        if handler is None:
            if sub.ignore_unknown:
                return "ignored"
            raise PermanentError(f"{self.consumer_name} has no handler for {envelope.type}")
        deliveries = self.deliveries
        assert deliveries is not None
        if starts is None:
            starts = await self.until_done(
                record, lambda: deliveries.begin(record.topic, record.partition, record.offset)
            )
        if starts > self.retry.max_crashes:
            raise PoisonMessage(
                f"{starts - 1} processes died applying this record ({envelope.type})"
            )
        applied = await self.until_done(record, lambda: self.apply(handler, envelope, message))
        return "applied" if applied else "duplicate"

    async def until_done(self, record: Any, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` until it succeeds or fails permanently, waiting out transient
        failures in place (the partition waits; readiness and a gauge say so)."""
        key = (record.topic, record.partition)
        began = time.monotonic()
        failures = 0
        try:
            while True:
                try:
                    return await attempt()
                except Exception as exc:
                    if not is_transient(exc) and not await self._database_away(exc):
                        raise
                    failures += 1
                    await self._wait_out(key, began, failures, exc)
        finally:
            if key in self._stalled:
                del self._stalled[key]
                STALLED.labels(self.consumer_name, record.topic).dec()

    async def _database_away(self, exc: Exception) -> bool:
        """Whether a failure that does not say it is transient happened while the database
        was away: then it may well be the outage's doing (a driver or pool error raised on a
        connection cut mid-use), and the message is retried instead of dead-lettered. A
        failure that says it is permanent is believed; anything else is blamed on the message
        only once a fresh connection to the database answers."""
        if isinstance(exc, PermanentError):
            return False
        try:
            async with asyncio.timeout(self.retry.probe_timeout_s):
                async with self.engine.connect() as conn:
                    await conn.exec_driver_sql("SELECT 1")
        except Exception as probe:
            log.warning(
                "%s while the database is away (%s): retried, not dead-lettered",
                type(exc).__name__,
                type(probe).__name__,
            )
            return True
        return False

    async def _wait_out(
        self, key: tuple[str, int], began: float, failures: int, exc: Exception
    ) -> None:
        """A stall counts from when the record's first attempt began: an attempt that hangs
        until its command timeout (a partitioned database) has stalled all that while."""
        topic, partition = key
        TRANSIENT_FAILURES.labels(self.consumer_name, topic).inc()
        now = time.monotonic()
        if key not in self._stalled:
            self._stalled[key] = began
            STALLED.labels(self.consumer_name, topic).inc()
        stalled_s = now - self._stalled[key]
        if failures == 1 or failures % 10 == 0:
            log.warning(
                "%s[%s]: transient failure #%d (%s), stalled %.0fs; retrying",
                topic,
                partition,
                failures,
                type(exc).__name__,
                stalled_s,
            )
        if self.retry.handoff_after_s and stalled_s > self.retry.handoff_after_s:
            self._hand_off(f"{topic}[{partition}] stalled {stalled_s:.0f}s")
        await asyncio.sleep(self.retry.delay(failures))

    def _hand_off(self, why: str) -> None:
        """Give up this worker's partitions so a healthy replica takes them: stop the process
        gracefully (faust leaves the group, acked offsets are committed, the stalled record is
        not acked), or hard if that hangs. The supervisor starts it again; it waits for its
        database before it rejoins (``wait_for_database``)."""
        if self._handing_off:
            return
        self._handing_off = True
        log.error("consumer %s gives up its partitions: %s", self.consumer_name, why)
        loop = asyncio.get_running_loop()
        loop.call_later(max(15.0, self.session_timeout_s), os._exit, 75)
        os.kill(os.getpid(), signal.SIGTERM)

    async def apply(self, handler: Handler, envelope: Envelope, message: ContractMessage) -> bool:
        """One transaction: inbox claim + the handler's effect and outgoing messages (which
        carry the traceparent of the span it runs in)."""
        # Row-level security: what the handler reads and writes is the message's tenant's (a
        # message that names none, a reply or one of the previous release: every tenant's).
        with tenancy.acting_for(getattr(message, "tenant_id", None)):
            async with self.engine.begin() as conn:
                if not await self.inbox.claim(conn, self.consumer_name, envelope):
                    return False
                failpoints.hit(failpoints.HANDLER_CRASH, f"{self.consumer_name}:{envelope.id}")
                await handler(HandlerContext(conn, self.outbox, envelope), message)
        return True

    async def dead_letter(
        self, topic: TopicSpec, record: Any, headers: Headers, exc: BaseException
    ) -> None:
        """Publish the record unchanged to ``<topic>.dlq`` with the failure in headers.

        Retries until the DLQ accepted it: only then may the partition move on.
        """
        assert self._app is not None
        # Described safely: the record itself is in the DLQ; its data never goes in a header.
        error = errors.describe(exc)
        extra: Headers = [
            ("dlq_error", error.encode()),
            ("dlq_error_class", type(exc).__name__.encode()),
            ("dlq_stacktrace", errors.safe_traceback(exc).encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_consumer", self.consumer_name.encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        log.error(
            "dead-lettering %s[%s]@%s: %s",
            record.topic,
            record.partition,
            record.offset,
            error,
            extra={"message_id": _header(headers, "ce_id")},
        )
        delay = 0.1
        while True:
            try:
                await self._app.producer.send_and_wait(
                    topic.dlq.name, record.key, record.value, None, None, headers + extra
                )
                DEAD_LETTERED.labels(self.consumer_name, topic.name).inc()
                return
            except Exception as send_exc:  # the broker is down: hold the partition, try again
                log.warning("DLQ publish failed (%s); retrying in %.1fs", send_exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
