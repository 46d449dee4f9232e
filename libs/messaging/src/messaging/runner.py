"""The consumer runner: faust-streaming agents that apply each message once, retry what is
transient and dead-letter what can never succeed.

faust acknowledges a message when an agent raises, which would silently drop it. So agents here
never raise: every record goes through :meth:`ConsumerRunner.process`, which either commits the
handler's effect (with the inbox claim, in one transaction) or publishes the record to
``<topic>.dlq`` and only then lets faust move the partition on.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from contracts import cloudevents as ce
from contracts.base import ContractMessage
from contracts.topics import TopicSpec
from messaging import logcontext, tracing
from messaging.envelope import Envelope, Headers
from messaging.errors import PermanentError, UnknownMessageType, is_transient
from messaging.inbox import Inbox
from messaging.kafka import FETCH_MAX_WAIT_MS
from messaging.outbox import Outbox

log = logging.getLogger(__name__)

CONSUMED = Counter(
    "consumer_messages_total", "Messages handled by outcome", ["consumer", "topic", "outcome"]
)
HANDLE_SECONDS = Histogram(
    "consumer_handle_seconds", "Time to apply one message", ["consumer", "topic"]
)
DEAD_LETTERED = Counter("dlq_messages_total", "Messages sent to a DLQ", ["consumer", "topic"])


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
    attempts: int = 8
    max_elapsed_s: float = 60.0
    initial_s: float = 0.05
    max_s: float = 5.0


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
    _app: faust.App | None = None

    def build_app(self) -> faust.App:
        app = PlatformFaustApp(
            self.consumer_name,
            broker=f"kafka://{self.bootstrap_servers}",
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
            async for event in stream.events():
                await self.process(sub, event.message)

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
            applied = await self._apply_with_retries(handler, envelope, message)
            return "applied" if applied else "duplicate"
        except Exception as exc:
            tracing.fail(span, exc)
            await self.dead_letter(sub.topic, record, headers, exc)
            return "dead_lettered"

    async def _apply_with_retries(
        self, handler: Handler, envelope: Envelope, message: ContractMessage
    ) -> bool:
        applied = False
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.attempts)
            | stop_after_delay(self.retry.max_elapsed_s),
            wait=wait_exponential_jitter(
                multiplier=self.retry.initial_s, max=self.retry.max_s, jitter=self.retry.initial_s
            ),
            retry=retry_if_exception(is_transient),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                applied = await self.apply(handler, envelope, message)
        return applied

    async def apply(self, handler: Handler, envelope: Envelope, message: ContractMessage) -> bool:
        """One transaction: inbox claim + the handler's effect and outgoing messages (which
        carry the traceparent of the span it runs in)."""
        async with self.engine.begin() as conn:
            if not await self.inbox.claim(conn, self.consumer_name, envelope):
                return False
            await handler(HandlerContext(conn, self.outbox, envelope), message)
        return True

    async def dead_letter(
        self, topic: TopicSpec, record: Any, headers: Headers, exc: BaseException
    ) -> None:
        """Publish the record unchanged to ``<topic>.dlq`` with the failure in headers.

        Retries until the DLQ accepted it: only then may the partition move on.
        """
        assert self._app is not None
        error = f"{type(exc).__name__}: {exc}"[:2000]
        extra: Headers = [
            ("dlq_error", error.encode()),
            ("dlq_error_class", type(exc).__name__.encode()),
            ("dlq_stacktrace", "".join(traceback.format_exception(exc))[-4000:].encode()),
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
