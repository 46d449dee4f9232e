"""Outbox relay throughput and wake-up latency, on a scratch database of the running platform.

* throughput: N committed rows over 100 keys drained by one relay (batch 500), rows per second;
* wake-up: one row committed at a time, time until a consumer has it, p50/p99. With LISTEN/NOTIFY
  this is milliseconds; without it, it would be the poll interval (1 s).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import MetaData
from sqlalchemy.schema import CreateIndex, CreateTable

from contracts.topics import TopicSpec
from messaging import security
from messaging.kafka import ensure_topics, reliable_producer
from messaging.relay import OutboxRelay, RelayConfig
from messaging.tables import OUTBOX_CHANNEL, outbox_table

_INSERT = """
INSERT INTO outbox (message_id, topic, key, ce_type, source, subject, payload, traceparent)
SELECT gen_random_uuid(), $1, 'k' || (g % 100), 'bench.Row.v1', '/bench', 'k' || (g % 100),
       '{"n": ' || g || ', "pad": "' || repeat('x', 200) || '"}',
       '00-' || md5(g::text) || '-' || substr(md5(g::text), 1, 16) || '-01'
FROM generate_series(1, $2) AS g
"""


async def _scratch_db(admin_url: str) -> str:
    name = "bench_relay"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    conn = await asyncpg.connect(url)
    try:
        table = outbox_table(MetaData())
        from sqlalchemy.dialects import postgresql

        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        await conn.execute(str(CreateTable(table).compile(dialect=dialect)))
        for index in table.indexes:
            await conn.execute(str(CreateIndex(index).compile(dialect=dialect)))
    finally:
        await conn.close()
    return url


async def run(admin_url: str, bootstrap: str, rows: int) -> dict[str, Any]:
    url = await _scratch_db(admin_url)
    topic = TopicSpec(f"bench.relay.{uuid.uuid4().hex[:6]}", 6, "key", "relay benchmark")
    await ensure_topics(bootstrap, (topic,))
    conn = await asyncpg.connect(url)
    relay = OutboxRelay(
        dsn=url,
        producer_factory=lambda: reliable_producer(bootstrap, "bench-relay"),
        config=RelayConfig(service="bench", batch_size=500, poll_interval_s=1.0),
    )
    try:
        await conn.execute(_INSERT, topic.name, rows)
        started = time.perf_counter()
        task = asyncio.create_task(relay.run())
        while await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"):
            await asyncio.sleep(0.05)
        drained = time.perf_counter() - started

        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, fetch_max_wait_ms=100, **security.client_kwargs()
        )
        await consumer.start()
        tps = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        wakeups = []
        for _ in range(50):
            async with conn.transaction():
                await conn.execute(_INSERT, topic.name, 1)
                await conn.execute(f"NOTIFY {OUTBOX_CHANNEL}")
            committed = time.perf_counter()
            got = False
            while not got:
                batch = await consumer.getmany(timeout_ms=2000)
                got = any(batch.values())
            wakeups.append(time.perf_counter() - committed)
        await consumer.stop()
        relay.stop()
        await task
    finally:
        await conn.close()
    wakeups.sort()
    return {
        "rows": rows,
        "drain_seconds": round(drained, 2),
        "rows_per_s": round(rows / drained),
        "commit_to_consumed_ms": {
            "p50": round(wakeups[len(wakeups) // 2] * 1000, 1),
            "p99": round(wakeups[min(len(wakeups) - 1, int(len(wakeups) * 0.99))] * 1000, 1),
        },
    }
