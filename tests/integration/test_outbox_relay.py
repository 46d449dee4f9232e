"""The outbox relay against real Postgres and a real broker, killed and restarted for real."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from sqlalchemy import text

from contracts.topics import TopicSpec
from devstack.platform import Platform
from messaging.envelope import Envelope
from messaging.inbox import Inbox
from messaging.kafka import ensure_topics, reliable_producer
from messaging.outbox import Outbox
from messaging.relay import OutboxRelay, RelayConfig
from service_kit.db import asyncpg_dsn, make_engine
from tests.support import scratch_db
from tests.support.kafka import records_of
from tests.support.outbox_flow import (
    Ping,
    assert_per_key_order,
    consume_all,
    count_sent,
    start_relay,
    write,
)
from tests.support.scratch_db import INBOX, OUTBOX

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db_url(platform: Platform) -> str:
    return scratch_db.create(
        platform,
        "outbox_relay_test",
        "CREATE TABLE IF NOT EXISTS effects (message_id text PRIMARY KEY)",
    )


@pytest.fixture()
async def engine(db_url: str):  # type: ignore[no-untyped-def]
    eng = make_engine(db_url, pool_size=8)
    async with eng.begin() as conn:
        await conn.execute(text("TRUNCATE outbox, inbox, effects"))
    yield eng
    await eng.dispose()


async def new_topic(platform: Platform, partitions: int = 3) -> TopicSpec:
    spec = TopicSpec(f"test.outbox.{uuid.uuid4().hex[:8]}", partitions, "key", "relay test")
    await ensure_topics(platform.bootstrap, (spec,))
    return spec


async def test_nothing_is_lost_when_the_relay_is_killed_between_commit_and_publish(
    platform: Platform, db_url: str, engine
) -> None:
    topic = await new_topic(platform)
    total, keys = 4000, 10

    # Committed, not yet published: no relay is running. Keys in parallel, each key in order.
    async def one_key(k: int) -> None:
        for seq in range(total // keys):
            await write(engine, topic, f"k{k}", seq)

    await asyncio.gather(*(one_key(k) for k in range(keys)))
    relay = start_relay(platform, db_url, batch=25, name="relay-kill")
    try:
        deadline = time.monotonic() + 60
        sent = 0
        while time.monotonic() < deadline:
            sent = await count_sent(db_url)
            if sent >= 100:
                break
            await asyncio.sleep(0.005)
        relay.kill()  # SIGKILL mid-stream
        sent_at_kill = await count_sent(db_url)
        assert 0 < sent_at_kill < total, "the relay must die with work left to do"
        relay = start_relay(platform, db_url, batch=500, name="relay-restarted")
        records, ids = await consume_all(platform, topic, total)
        assert len(ids) == total
        assert_per_key_order(records)
    finally:
        relay.stop()


async def test_a_transaction_that_commits_late_is_still_published(
    platform: Platform, db_url: str, engine
) -> None:
    topic = await new_topic(platform, partitions=1)
    relay = start_relay(platform, db_url, batch=100, name="relay-late")
    outbox = Outbox(OUTBOX, "/tests")
    try:
        async with engine.connect() as slow:
            tx = await slow.begin()
            await outbox.add(slow, topic=topic, key="slow", message=Ping(key="slow", seq=0))
            for i in range(5):  # later ids, committed first
                await write(engine, topic, "fast", i)
            _, ids = await consume_all(platform, topic, 5, timeout=30)
            assert len(ids) == 5
            await tx.commit()
        records, ids = await consume_all(platform, topic, 6, timeout=30)
        assert {p.key for _, _, p in records} == {"slow", "fast"}
        async with engine.connect() as conn:
            row = await conn.execute(
                text("SELECT min(id) = (SELECT id FROM outbox WHERE key = 'slow') FROM outbox")
            )
            assert row.scalar(), (
                "the late row had the smallest id: an id cursor would have skipped it"
            )
    finally:
        relay.stop()


async def test_two_relays_publish_every_row_once_in_order_per_key_and_effects_apply_once(
    platform: Platform, db_url: str, engine
) -> None:
    topic = await new_topic(platform, partitions=3)
    relays = [start_relay(platform, db_url, batch=20, name=f"relay-{i}") for i in range(2)]
    writers, keys_per_writer, per_key = 4, 5, 100
    try:

        async def writer(w: int) -> None:
            for seq in range(per_key):
                for k in range(keys_per_writer):
                    await write(engine, topic, f"w{w}k{k}", seq)

        await asyncio.gather(*(writer(w) for w in range(writers)))
        total = writers * keys_per_writer * per_key
        records, ids = await consume_all(platform, topic, total)
        assert len(ids) == total
        assert_per_key_order(records)
        assert all(r.alive() for r in relays)

        # A consumer applies each record through the inbox: duplicates (if any) change nothing.
        inbox = Inbox(INBOX)
        for _, env, _ in records + records[:50]:  # feed some twice on purpose
            async with engine.begin() as conn:
                if await inbox.claim(conn, "effects-consumer", env):
                    await conn.execute(text("INSERT INTO effects VALUES (:m)"), {"m": env.id})
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM effects"))).scalar() == total
    finally:
        for relay in relays:
            relay.stop()


async def test_sent_rows_are_purged_after_the_retention_and_unsent_rows_never(
    platform: Platform, db_url: str, engine
) -> None:
    topic = await new_topic(platform, partitions=1)
    for i in range(4):
        await write(engine, topic, "purge", i)
    async with engine.begin() as conn:
        ids = [r[0] for r in await conn.execute(text("SELECT id FROM outbox ORDER BY id"))]
        await conn.execute(  # two sent long ago, one sent just now, one never sent
            text("UPDATE outbox SET sent_at = now() - interval '2 days' WHERE id = ANY(:ids)"),
            {"ids": ids[:2]},
        )
        await conn.execute(text("UPDATE outbox SET sent_at = now() WHERE id = :id"), {"id": ids[2]})
    relay = OutboxRelay(
        dsn=asyncpg_dsn(db_url),
        producer_factory=lambda: reliable_producer(platform.bootstrap, "purge-test"),
        config=RelayConfig(service="test", retention_s=24 * 3600),
    )
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        await relay._purge_and_measure(conn)
        left = [r["id"] for r in await conn.fetch("SELECT id FROM outbox ORDER BY id")]
    finally:
        await conn.close()
    assert left == ids[2:]


class _BrokerFailsOnce:
    """The relay's first producer loses the broker mid-batch (its third send and every one
    after fail); later producers work."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.made = 0

    def __call__(self):  # type: ignore[no-untyped-def]
        self.made += 1
        producer = reliable_producer(self.bootstrap, f"flaky-{self.made}")
        if self.made == 1:
            real_send = producer.send
            calls = 0

            async def send(*args, **kwargs):  # type: ignore[no-untyped-def]
                nonlocal calls
                calls += 1
                if calls >= 3:
                    raise KafkaConnectionError("broker went away")
                return await real_send(*args, **kwargs)

            producer.send = send  # type: ignore[method-assign]
        return producer


async def test_the_relay_carries_on_after_the_broker_fails_mid_batch(
    platform: Platform, db_url: str, engine
) -> None:
    topic = await new_topic(platform, partitions=1)
    for seq in range(20):
        await write(engine, topic, "k", seq)
    factory = _BrokerFailsOnce(platform.bootstrap)
    relay = OutboxRelay(
        dsn=asyncpg_dsn(db_url),
        producer_factory=factory,
        config=RelayConfig(service="test", batch_size=10, poll_interval_s=0.2),
    )
    relay._backoff_s = 0.05
    task = asyncio.create_task(relay.run())
    try:
        records, ids = await consume_all(platform, topic, 20, timeout=30)
    finally:
        relay.stop()
        await task
    assert len(ids) == 20 and factory.made >= 2
    assert_per_key_order(records)


async def test_a_redelivered_event_keeps_its_source_and_id(
    platform: Platform, db_url: str, engine
) -> None:
    """A relay that published but lost its marks (a crash before the commit) publishes the rows
    again: each redelivery is the same CloudEvent, ``source`` and ``id`` included, so consumers
    recognise it."""
    topic = await new_topic(platform, partitions=1)
    for seq in range(5):
        await write(engine, topic, "k", seq)
    relay = OutboxRelay(
        dsn=asyncpg_dsn(db_url),
        producer_factory=lambda: reliable_producer(platform.bootstrap, "redelivery"),
        config=RelayConfig(service="test", batch_size=10),
    )
    producer = reliable_producer(platform.bootstrap, "redelivery")
    await producer.start()
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        assert await relay.publish_batch(conn, producer) == 5
        await conn.execute("UPDATE outbox SET sent_at = NULL")  # the marks never committed
        assert await relay.publish_batch(conn, producer) == 5
    finally:
        await conn.close()
        await producer.stop()

    records = await records_of(platform.bootstrap, topic, None, 10)
    assert len(records) == 10
    first, again = records[:5], records[5:]
    for a, b in zip(first, again, strict=True):
        assert a.offset != b.offset
        assert (a.key, a.value, list(a.headers)) == (b.key, b.value, list(b.headers))
        env = Envelope.from_record(a.key, a.value, list(a.headers))
        assert env.source == "/tests" and env.id
    assert len({dict(r.headers)["ce_id"] for r in records}) == 5


async def test_a_row_kafka_refuses_is_set_aside_holding_back_only_its_own_key(
    platform: Platform, db_url: str, engine
) -> None:
    """A row for a topic the cluster lacks, and one larger than the producer may send: each
    holds back the later rows of its key, is retried with backoff, set aside after the relay's
    attempts with its error (visible in the gauge), and sent once an operator retries it.
    Every other key flows meanwhile."""
    topic = await new_topic(platform, partitions=3)
    missing = TopicSpec(f"test.outbox.missing.{uuid.uuid4().hex[:8]}", 1, "key", "absent")
    for seq in range(3):
        await write(engine, topic, "fine-a", seq)
    await write(engine, missing, "blocked", 0)
    await write(engine, topic, "blocked", 1)  # waits behind the refused row of its key
    outbox = Outbox(OUTBOX, "/tests")
    async with engine.begin() as conn:
        await outbox.add(conn, topic=topic, key="huge", message=Ping(key="x" * 2_000_000, seq=0))
    for seq in range(3):
        await write(engine, topic, "fine-b", seq)
    relay = OutboxRelay(
        dsn=asyncpg_dsn(db_url),
        producer_factory=lambda: reliable_producer(platform.bootstrap, "refused"),
        config=RelayConfig(service="refused-test", batch_size=50, max_attempts=2),
    )
    producer = reliable_producer(platform.bootstrap, "refused")
    await producer.start()
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        assert await relay.publish_batch(conn, producer) == 6  # fine-a and fine-b
        held = await conn.fetch(
            "SELECT key, attempts, last_error, held_until > now() AS held FROM outbox "
            "WHERE sent_at IS NULL ORDER BY id"
        )
        assert [(r["key"], r["attempts"], r["held"]) for r in held] == [
            ("blocked", 1, True),
            ("blocked", 0, None),
            ("huge", 1, True),
        ]
        assert "UnknownTopicOrPartition" in held[0]["last_error"]
        assert "MessageSizeTooLarge" in held[2]["last_error"]
        for seq in range(3, 5):
            await write(engine, topic, "fine-a", seq)
        assert await relay.publish_batch(conn, producer) == 2  # held keys wait, others flow
        # The hold ends; the second refusal sets both rows aside for good.
        await conn.execute("UPDATE outbox SET held_until = now() WHERE attempts = 1")
        assert await relay.publish_batch(conn, producer) == 0
        aside = await conn.fetch("SELECT key FROM outbox WHERE held_until = 'infinity' ORDER BY id")
        assert [r["key"] for r in aside] == ["blocked", "huge"]
        await relay._purge_and_measure(conn)
        from messaging.relay import OUTBOX_SET_ASIDE

        assert OUTBOX_SET_ASIDE.labels("refused-test")._value.get() == 2
        # The operator creates the topic and retries the key: it goes, in order.
        await ensure_topics(platform.bootstrap, (missing,))
        await conn.execute(
            "UPDATE outbox SET held_until = NULL, attempts = 0 WHERE key = 'blocked'"
        )
        assert await relay.publish_batch(conn, producer) == 2
    finally:
        await conn.close()
        await producer.stop()
    records, _ = await consume_all(platform, topic, 9)
    assert sorted((p.key, p.seq) for _, _, p in records) == sorted(
        [("fine-a", s) for s in range(5)] + [("fine-b", s) for s in range(3)] + [("blocked", 1)]
    )
