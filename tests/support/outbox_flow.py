"""Outbox rows written, relayed by real relay processes and read back from Kafka, for the tests
that kill relays and brokers: what was written, in which order per key, and what arrived."""

from __future__ import annotations

import sys
import time
import uuid
from collections import defaultdict
from typing import Any, ClassVar

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.base import Event
from contracts.topics import TopicSpec
from devstack.kafka import REPO_ROOT
from devstack.platform import Platform
from devstack.procs import Proc, spawn
from messaging.envelope import Envelope
from messaging.outbox import Outbox
from service_kit.db import asyncpg_dsn
from tests.support.scratch_db import OUTBOX


class Ping(Event):
    type: ClassVar[str] = "test.Ping"
    key: str
    seq: int


def start_relay(
    platform: Platform, db_url: str, batch: int, name: str = "relay", bootstrap: str | None = None
) -> Proc:
    """A relay process over ``db_url``'s outbox, publishing to the platform's broker (or to
    ``bootstrap``, with this process's KAFKA_* security)."""
    return spawn(
        name,
        [
            sys.executable,
            "-m",
            "tests.support.relay_proc",
            asyncpg_dsn(db_url),
            bootstrap or platform.bootstrap,
            str(batch),
        ],
        log_path=platform.config.workdir / "logs" / f"test-{name}-{uuid.uuid4().hex[:6]}.log",
        cwd=REPO_ROOT,
    )


async def write(engine, topic: TopicSpec, key: str, seq: int) -> None:  # type: ignore[no-untyped-def]
    outbox = Outbox(OUTBOX, "/tests")
    async with engine.begin() as conn:
        await outbox.add(conn, topic=topic, key=key, message=Ping(key=key, seq=seq))


async def consume_all(
    platform: Platform | dict[str, Any], topic: TopicSpec, expected_ids: int, timeout: float = 60.0
):  # type: ignore[no-untyped-def]
    """Every record on the topic, per partition in offset order, until ``expected_ids``
    distinct ids; from the platform's broker, or a client of the given arguments."""
    kwargs = platform.kafka_kwargs() if isinstance(platform, Platform) else platform
    consumer = AIOKafkaConsumer(**kwargs, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        tps = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records, ids = [], set()
        deadline = time.monotonic() + timeout
        while len(ids) < expected_ids and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for tp_records in batch.values():
                for record in tp_records:
                    env = Envelope.from_record(record.key, record.value, list(record.headers))
                    records.append((record.partition, env, Ping.model_validate_json(env.data)))
                    ids.add(env.id)
        return records, ids
    finally:
        await consumer.stop()


def assert_per_key_order(records) -> None:  # type: ignore[no-untyped-def]
    seen: dict[str, list[int]] = defaultdict(list)
    first: set[str] = set()
    for _, env, ping in records:
        if env.id in first:
            continue  # a redelivery after a crash: consumers deduplicate by id
        first.add(env.id)
        seen[ping.key].append(ping.seq)
    for key, seqs in seen.items():
        assert seqs == sorted(seqs), f"key {key} out of order"


async def count_sent(db_url: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        return await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL")
    finally:
        await conn.close()
