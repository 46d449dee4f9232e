"""The consumer runner: faust-streaming agents that apply each message once, retry what is
transient for as long as it lasts and dead-letter only what can never succeed.

faust acknowledges a message when an agent raises (its stream's ``finally`` acks), which would
silently drop it. So agents here iterate a ``noack`` stream and ack a record only after
:meth:`ConsumerRunner.process` returned: the handler's effect committed (with the inbox claim,
in one transaction) or the record was published to ``<topic>.dlq``. Anything that escapes as a
``BaseException`` leaves the record unacked: a cancelled agent (shutdown) re-raises, anything
else ends the process, and the record is delivered again.

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
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from prometheus_client import Counter, Gauge, Histogram
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
            async for event in manual.events():
                try:
                    await self.process(sub, event.message)
                except asyncio.CancelledError:
                    raise  # stopping: the record stays unacked and is delivered again
                except BaseException as exc:
                    # Never acked: the next process gets the record (and counts the crash).
                    log.critical("consumer %s ends: %s", self.consumer_name, errors.describe(exc))
                    os._exit(70)
                failpoints.hit(failpoints.CONSUMER_AFTER_COMMIT, self._subject(event.message))
                await manual.ack(event)

        agent.__name__ = agent.__qualname__ = f"{sub.topic.name.replace('.', '_')}_agent"
        app.agent(topic, name=f"{self.consumer_name}.{sub.topic.name}")(agent)

    async def process(self, sub: Subscription, record: Any) -> None:
        """Apply one record or dead-letter it. Never raises (faust would ack and drop).

        The work is one CONSUMER span under the record's ``ce_traceparent`` and one log scope
        carrying the message id (and, once decoded, its type and booking)."""
        topic = sub.topic.name
        started = time.perf_counter()
        headers: Headers = list(record.headers or ())
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
            outcome = await self._process(sub, record, headers, span)
            span.set_attribute("booking_platform.outcome", outcome)
            CONSUMED.labels(self.consumer_name, topic, outcome).inc()
            HANDLE_SECONDS.labels(self.consumer_name, topic).observe(time.perf_counter() - started)

    async def _process(
        self, sub: Subscription, record: Any, headers: Headers, span: tracing.Span
    ) -> str:
        try:
            outcome = await self._decode_and_apply(sub, record, headers)
        except Exception as exc:
            tracing.fail(span, exc)
            await self.dead_letter(sub.topic, record, headers, exc)
            outcome = "dead_lettered"
        return outcome

    async def _decode_and_apply(self, sub: Subscription, record: Any, headers: Headers) -> str:
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
