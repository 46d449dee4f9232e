"""The outbox relay: publishes committed outbox rows to Kafka, in commit order per key.

Guarantees and how they hold:

* **Nothing lost.** A row is marked sent only after Kafka acknowledged it (``acks=all``,
  idempotent producer) and in the same transaction that claimed it. A relay killed between
  publish and mark re-publishes on restart; consumers deduplicate by CloudEvents id.
* **Nothing skipped.** Rows are found by ``sent_at IS NULL`` (partial index), never by an
  ``id > last`` cursor, so a transaction that took its ids early and committed late is still seen.
* **Per-key order, even with several relays.** Rows are claimed with ``FOR UPDATE SKIP LOCKED``.
  For each key a relay publishes only the leading run of that key's unsent rows that it holds
  itself (one statement claims and checks); if an older unsent row of the key is held by another
  relay, the key waits for the next round. So one key is never published by two relays at once,
  and a writer's rows never go out before those of a writer of the same key that committed
  before it began (its ids are later); two writers that ran concurrently have no order between
  them to keep.
* **Three round trips a batch**: BEGIN, the claim, and the mark sent with the commit. The mark
  does not wait for the disk: lost in a crash of the database server, it only publishes its
  rows again, which consumers deduplicate.
* **Prompt.** Every outbox write ``NOTIFY``\\ s at commit; the relay ``LISTEN``\\ s and also
  polls as a fallback (a lost connection, a notification that raced the listener).
* **One bad row stalls only its key.** A row Kafka refuses (a missing topic on an external
  cluster, an ACL, an oversized record) is held with its error and retried with backoff; after
  ``max_attempts`` it is set aside (``held_until = 'infinity'``) until an operator retries it
  (``bpctl outbox retry``). While a row of a key is held, no later row of that key is claimed;
  every other key flows. A broker outage (nothing in the batch got through) is not the rows'
  fault: the relay reconnects and the rows are not charged an attempt.
* **Order survives a broker dying mid-batch.** The idempotent producer keeps one partition's
  records in order, and a row is marked sent only once acknowledged; a failed batch is sent
  again, so a consumer may see a row twice but never a later row of a key before its first
  sight of an earlier one.
* **The purge keeps up.** Sent rows older than the retention are deleted in bounded batches
  until none is left, every ``purge_every_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from prometheus_client import Counter, Gauge, Histogram

from messaging import failpoints, tracing
from messaging.envelope import Envelope
from messaging.errors import describe
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
OUTBOX_SET_ASIDE = Gauge(
    "outbox_set_aside_rows",
    "Outbox rows Kafka kept refusing, set aside until an operator retries them",
    ["service"],
)
RELAY_REFUSED = Counter(
    "outbox_relay_refused_total", "Outbox rows Kafka refused (held and retried)", ["service"]
)
RELAY_PURGED = Counter("outbox_relay_purged_total", "Sent outbox rows deleted", ["service"])

# Errors that belong to one record or topic, not to the cluster: the row is charged an attempt.
_ROW_ERRORS = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
    InvalidTopicError,
)

# One statement claims a batch and says, for each key claimed, which of its unsent rows up to
# the last one claimed exist (with the key's first claimed row only): a key publishes only the
# leading run of those that this relay holds. Rows another relay holds are visible to it, only
# not lockable; a row of the key committed later than the claim's snapshot came from a writer
# that ran concurrently with the one whose row was claimed (a writer that began after it
# committed takes a later id), so there is no order between the two to keep. A key with a held
# row waits (the NOT EXISTS probes a partial index that is empty unless something was refused).
_CLAIM = """
WITH claimed AS (
  SELECT id, message_id::text, topic, key, ce_type, source, subject, payload, traceparent,
         created_at
  FROM outbox o
  WHERE sent_at IS NULL
    AND NOT EXISTS (
      SELECT 1 FROM outbox h
      WHERE h.key = o.key AND h.sent_at IS NULL AND h.held_until IS NOT NULL
        AND h.held_until > now()
    )
  ORDER BY id
  LIMIT $1
  FOR UPDATE SKIP LOCKED
), claimed_keys AS (
  SELECT key, min(id) AS first, max(id) AS last FROM claimed GROUP BY key
), unsent AS (
  SELECT k.key, k.first, array_agg(u.id ORDER BY u.id) AS ids
  FROM claimed_keys k
  JOIN outbox u ON u.key = k.key AND u.sent_at IS NULL AND u.id <= k.last
  GROUP BY k.key, k.first
)
SELECT c.*, CASE WHEN c.id = n.first THEN n.ids END AS key_unsent
FROM claimed c JOIN unsent n USING (key)
ORDER BY c.id
"""

# Marking is bookkeeping: a mark lost in a crash of the database server only publishes its row
# again (consumers deduplicate), so its commit does not wait for the disk. Sent as one simple
# query with the commit (integers only, formatted here), one round trip.
_MARK_SENT_AND_COMMIT = (
    "SET LOCAL synchronous_commit TO off; "
    "UPDATE outbox SET sent_at = now(), held_until = NULL, kafka_partition = s.p, "
    "kafka_offset = s.o "
    "FROM unnest('{{{ids}}}'::bigint[], '{{{partitions}}}'::int[], '{{{offsets}}}'::bigint[]) "
    "AS s(id, p, o) WHERE outbox.id = s.id; "
    "COMMIT"
)


def _int_array(values: list[int]) -> str:
    return ",".join(str(int(v)) for v in values)


# Refused: held with backoff (2^attempts seconds, at most 5 minutes), set aside at the limit.
_HOLD = """
UPDATE outbox SET
  attempts = attempts + 1,
  last_error = f.error,
  held_until = CASE WHEN attempts + 1 >= $3 THEN 'infinity'::timestamptz
    ELSE now() + make_interval(secs => least(300, 2 ^ (attempts + 1))) END
FROM unnest($1::bigint[], $2::text[]) AS f(id, error)
WHERE outbox.id = f.id
"""
_PURGE = """
DELETE FROM outbox WHERE id IN (
  SELECT id FROM outbox WHERE sent_at < now() - make_interval(secs => $1) LIMIT $2
)
"""
_STATS = """
SELECT count(*), extract(epoch FROM now() - min(created_at)),
       count(*) FILTER (WHERE held_until = 'infinity')
FROM outbox WHERE sent_at IS NULL
"""


@dataclass
class RelayConfig:
    service: str
    batch_size: int = 500
    poll_interval_s: float = 1.0
    retention_s: float = 24 * 3600.0
    purge_every_s: float = 60.0
    purge_batch: int = 5000
    # A row Kafka refused this many times is set aside.
    max_attempts: int = 5


@dataclass
class OutboxRelay:
    """One relay loop over one service database. Run as many replicas as you like."""

    producer_factory: Callable[[], AIOKafkaProducer]
    config: RelayConfig
    dsn: str = ""
    # How to open a database connection (the platform's carries its timeouts); else ``dsn``.
    connect: Callable[[], Awaitable[asyncpg.Connection]] | None = None
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
            listener = await self._connect()
            conn = await self._connect()
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

    async def _connect(self) -> asyncpg.Connection:
        if self.connect is not None:
            return await self.connect()
        return await asyncpg.connect(self.dsn)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def publish_batch(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> int:
        """Claim, publish and mark one batch; returns the number of rows published.

        Three round trips: BEGIN, the claim (with the per-key check), the mark with the commit.
        Raises when nothing of the batch got through (the broker is away): the relay backs
        off and reconnects, and the rows wait, uncharged."""
        started = time.perf_counter()
        await conn.execute("BEGIN")
        try:
            rows = await conn.fetch(_CLAIM, self.config.batch_size)
            publishable = self._publishable(rows)
            if not publishable:
                await conn.execute("ROLLBACK")
                return 0
            outcomes = await self._publish(producer, publishable)
            failpoints.hit(failpoints.RELAY_AFTER_ACK, self.config.service)
            sent = [
                (row, meta)
                for row, meta in zip(publishable, outcomes, strict=True)
                if not isinstance(meta, BaseException)
            ]
            refused = [
                (row, exc)
                for row, exc in zip(publishable, outcomes, strict=True)
                if isinstance(exc, BaseException)
            ]
            charged = [(row, exc) for row, exc in refused if isinstance(exc, _ROW_ERRORS)]
            if refused and not sent and not charged:
                # The cluster, not the rows: reconnect and try again.
                raise next(exc for _, exc in refused if not isinstance(exc, _HeldBack))
            # Rows failed for the cluster's reasons while others got through (a broker died
            # mid-batch) stay unsent, uncharged: the next batch sends them again.
            if charged:
                await self._hold(conn, charged)
            if sent:
                await conn.execute(
                    _MARK_SENT_AND_COMMIT.format(
                        ids=_int_array([row["id"] for row, _ in sent]),
                        partitions=_int_array([meta.partition for _, meta in sent]),
                        offsets=_int_array([meta.offset for _, meta in sent]),
                    )
                )
            else:
                await conn.execute("COMMIT")
        except BaseException:
            if conn.is_in_transaction():
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
            raise
        RELAY_PUBLISHED.labels(self.config.service).inc(len(sent))
        RELAY_BATCH_SECONDS.labels(self.config.service).observe(time.perf_counter() - started)
        return len(sent)

    async def _hold(
        self, conn: asyncpg.Connection, refused: list[tuple[asyncpg.Record, BaseException]]
    ) -> None:
        """Charge each refused row an attempt; its key waits (``_CLAIM``) until it is retried."""
        RELAY_REFUSED.labels(self.config.service).inc(len(refused))
        for row, exc in refused:
            log.warning(
                "outbox row %s for %s refused by Kafka (%s); its key %s waits",
                row["id"],
                row["topic"],
                type(exc).__name__,
                row["key"],
            )
        await conn.execute(
            _HOLD,
            [row["id"] for row, _ in refused],
            [describe(exc) for _, exc in refused],
            self.config.max_attempts,
        )

    async def _publish(self, producer: AIOKafkaProducer, rows: list[asyncpg.Record]) -> list[Any]:
        """Send every row (in order) under one PRODUCER span each; per row, its record
        metadata or the exception that refused it. A key whose row was refused at once sends
        nothing after it."""
        # The record carries the row's traceparent unchanged (a re-published row must be
        # byte-identical), so the consumer's span is this one's sibling, both children of the
        # writer's.
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
            for row in rows
        ]
        pending: list[Any] = []
        stopped: dict[str, BaseException] = {}
        # Refused now, not after the producer's metadata wait of a whole request timeout.
        missing = await self._missing_topics(producer, {row["topic"] for row in rows})
        for row in rows:
            if row["key"] in stopped:
                pending.append(_HeldBack(row["key"]))  # not its fault: it waits, uncharged
                continue
            if row["topic"] in missing:
                stopped[row["key"]] = UnknownTopicOrPartitionError(row["topic"])
                pending.append(stopped[row["key"]])
                continue
            try:
                pending.append(await self._send(producer, row))
            except KafkaError as exc:
                stopped[row["key"]] = exc
                pending.append(exc)
        outcomes = await asyncio.gather(*(_settled(p) for p in pending), return_exceptions=True)
        for span, outcome in zip(spans, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                tracing.fail(span, outcome)
            span.end()
        return outcomes

    @staticmethod
    async def _missing_topics(producer: AIOKafkaProducer, topics: set[str]) -> set[str]:
        """The topics the cluster does not have (asked only when the cache does not know)."""
        unknown = topics - producer.client.cluster.topics()
        if not unknown:
            return set()
        metadata = await producer.client.fetch_all_metadata()
        return {t for t in unknown if not metadata.partitions_for_topic(t)}

    @staticmethod
    async def _send(producer: AIOKafkaProducer, row: asyncpg.Record) -> Any:
        """Hand the row to the producer; the future of its acknowledgement."""
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
        return await producer.send(
            row["topic"], value=envelope.data, key=row["key"].encode(), headers=envelope.headers()
        )

    @staticmethod
    def _publishable(rows: list[asyncpg.Record]) -> list[asyncpg.Record]:
        """The claimed rows that may go out now without breaking per-key order: per key, the
        leading run of its unsent rows that this relay holds."""
        mine = {r["id"] for r in rows}
        allowed: set[int] = set()
        for row in rows:
            for unsent_id in row["key_unsent"] or ():
                if unsent_id not in mine:
                    break  # an older row of this key is not ours (yet): stop here
                allowed.add(unsent_id)
        return [r for r in rows if r["id"] in allowed]

    async def _purge_and_measure(self, conn: asyncpg.Connection) -> None:
        """Delete every sent row past the retention, a bounded batch per statement (short
        locks, short transactions), so the purge keeps up with any write rate."""
        service = self.config.service
        while not self._stop.is_set():
            status = await conn.execute(_PURGE, self.config.retention_s, self.config.purge_batch)
            deleted = int(status.split()[-1])
            RELAY_PURGED.labels(service).inc(deleted)
            if deleted < self.config.purge_batch:
                break
        pending, oldest, set_aside = await conn.fetchrow(_STATS)
        OUTBOX_PENDING.labels(service).set(pending)
        OUTBOX_OLDEST_AGE.labels(service).set(float(oldest or 0.0))
        OUTBOX_SET_ASIDE.labels(service).set(set_aside)


class _HeldBack(Exception):
    """A row not sent because an earlier row of its key was refused in the same batch."""


async def _settled(pending: Any) -> Any:
    """A send's outcome: await its acknowledgement future, or hand back its refusal."""
    if isinstance(pending, BaseException):
        raise pending
    return await pending
