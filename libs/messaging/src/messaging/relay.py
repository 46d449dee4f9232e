"""The outbox relay: publishes committed outbox rows to Kafka, in commit order per key.

Guarantees and how they hold:

* **Nothing lost.** A row is marked sent only after Kafka acknowledged it (``acks=all``,
  idempotent producer) and in the same transaction that claimed it. A relay killed between
  publish and mark re-publishes on restart; consumers deduplicate by CloudEvents id.
* **Nothing skipped.** Rows are found by ``sent_at IS NULL`` (partial index), never by an
  ``id > last`` cursor, so a transaction that took its ids early and committed late is still seen.
* **Per-key order, even with several relays.** Rows are claimed with ``FOR UPDATE SKIP LOCKED``.
  For each key a relay publishes only the leading run of that key's unsent rows that it holds
  itself; if the oldest unsent row of a key is held by another relay (or committed after the
  claim), the key waits for the next round. So one key is never published by two relays at once,
  and never out of id order.
* **Prompt.** Every outbox write ``NOTIFY``\\ s at commit; the relay ``LISTEN``\\ s and also
  polls as a fallback (a lost connection, a notification that raced the listener).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge, Histogram

from messaging import tracing
from messaging.envelope import Envelope
from messaging.tables import OUTBOX_CHANNEL

log = logging.getLogger(__name__)

RELAY_PUBLISHED = Counter("outbox_relay_published_total", "Outbox rows published", ["service"])
RELAY_BATCH_SECONDS = Histogram(
    "outbox_relay_batch_seconds", "Time to publish and mark one batch", ["service"]
)
OUTBOX_PENDING = Gauge("outbox_pending_rows", "Unsent outbox rows", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_pending_age_seconds", "Age of the oldest unsent outbox row", ["service"]
)

_CLAIM = """
SELECT id, message_id::text, topic, key, ce_type, source, subject, payload, traceparent, created_at
FROM outbox
WHERE sent_at IS NULL
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED
"""

# For each claimed key: its unsent ids in order, as visible now (READ COMMITTED: a new snapshot).
_UNSENT_BY_KEY = """
SELECT key, array_agg(id ORDER BY id)
FROM outbox
WHERE sent_at IS NULL AND key = ANY($1::text[])
GROUP BY key
"""

_MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])"
_PURGE = """
DELETE FROM outbox WHERE id IN (
  SELECT id FROM outbox WHERE sent_at < now() - make_interval(secs => $1) LIMIT 5000
)
"""
_STATS = (
    "SELECT count(*), extract(epoch FROM now() - min(created_at)) FROM outbox WHERE sent_at IS NULL"
)


@dataclass
class RelayConfig:
    service: str
    batch_size: int = 500
    poll_interval_s: float = 1.0
    retention_s: float = 24 * 3600.0
    purge_every_s: float = 60.0


@dataclass
class OutboxRelay:
    """One relay loop over one service database. Run as many replicas as you like."""

    dsn: str
    producer_factory: Callable[[], AIOKafkaProducer]
    config: RelayConfig
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _backoff_s: float = 0.5

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        """Publish until ``stop()``. Survives any database or broker failure: it backs off,
        reconnects (with a fresh producer) and carries on; unsent rows simply wait."""
        while not self._stop.is_set():
            producer = self.producer_factory()
            try:
                await producer.start()
                await self._run_connected(producer)
            except Exception as exc:
                log.warning(
                    "outbox relay interrupted (%s: %s); retrying in %.1fs",
                    type(exc).__name__,
                    exc,
                    self._backoff_s,
                )
                await self._sleep(self._backoff_s)
                self._backoff_s = min(self._backoff_s * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await producer.stop()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _run_connected(self, producer: AIOKafkaProducer) -> None:
        listener: asyncpg.Connection | None = None
        conn: asyncpg.Connection | None = None
        try:
            listener = await asyncpg.connect(self.dsn)
            conn = await asyncpg.connect(self.dsn)
            await listener.add_listener(OUTBOX_CHANNEL, self._on_notify)
            self._backoff_s = 0.5  # connected: the next failure starts backing off afresh
            last_purge = 0.0
            while not self._stop.is_set():
                self._wake.clear()
                published = await self.publish_batch(conn, producer)
                now = time.monotonic()
                if now - last_purge > self.config.purge_every_s:
                    await self._purge_and_measure(conn)
                    last_purge = now
                if published >= self.config.batch_size:
                    continue  # more is waiting: no sleep
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.config.poll_interval_s)
        finally:
            for connection in (listener, conn):
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def publish_batch(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> int:
        """Claim, publish and mark one batch; returns the number of rows published."""
        started = time.perf_counter()
        async with conn.transaction():
            rows = await conn.fetch(_CLAIM, self.config.batch_size)
            if not rows:
                return 0
            publishable = await self._publishable(conn, rows)
            if not publishable:
                return 0
            # One PRODUCER span per row, under the row's traceparent. The record carries the
            # row's traceparent unchanged (a re-published row must be byte-identical), so the
            # consumer's span is this one's sibling, both children of the writer's.
            spans = [
                tracing.start(
                    f"send {row['topic']}",
                    row["traceparent"],
                    kind=tracing.SpanKind.PRODUCER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.operation.type": "send",
                        "messaging.destination.name": row["topic"],
                        "messaging.message.id": row["message_id"],
                        "messaging.kafka.message.key": row["key"],
                    },
                )
                for row in publishable
            ]
            try:
                await asyncio.gather(*await self._send_all(producer, publishable))
            except Exception as exc:
                for span in spans:
                    tracing.fail(span, exc)
                raise
            finally:
                for span in spans:
                    span.end()
            await conn.execute(_MARK_SENT, [r["id"] for r in publishable])
        RELAY_PUBLISHED.labels(self.config.service).inc(len(publishable))
        RELAY_BATCH_SECONDS.labels(self.config.service).observe(time.perf_counter() - started)
        return len(publishable)

    @staticmethod
    async def _send_all(producer: AIOKafkaProducer, rows: list[asyncpg.Record]) -> list[Any]:
        """Hand every row to the producer (in order); the futures of their acknowledgements."""
        futures = []
        for row in rows:
            envelope = Envelope(
                id=row["message_id"],
                source=row["source"],
                type=row["ce_type"],
                time=row["created_at"],
                data=row["payload"].encode(),
                subject=row["subject"],
                partitionkey=row["key"],
                traceparent=row["traceparent"],
            )
            futures.append(
                await producer.send(
                    row["topic"],
                    value=envelope.data,
                    key=row["key"].encode(),
                    headers=envelope.headers(),
                )
            )
        return futures

    @staticmethod
    async def _publishable(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list:
        """The claimed rows that may go out now without breaking per-key order."""
        mine = {r["id"]: r for r in rows}
        keys = sorted({r["key"] for r in rows})
        allowed: set[int] = set()
        for key, unsent_ids in await conn.fetch(_UNSENT_BY_KEY, keys):
            del key
            for unsent_id in unsent_ids:
                if unsent_id not in mine:
                    break  # an older row of this key is not ours (yet): stop here
                allowed.add(unsent_id)
        return [r for r in rows if r["id"] in allowed]

    async def _purge_and_measure(self, conn: asyncpg.Connection) -> None:
        await conn.execute(_PURGE, self.config.retention_s)
        pending, oldest = await conn.fetchrow(_STATS)
        OUTBOX_PENDING.labels(self.config.service).set(pending)
        OUTBOX_OLDEST_AGE.labels(self.config.service).set(float(oldest or 0.0))
