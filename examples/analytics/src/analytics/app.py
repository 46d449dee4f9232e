"""The faust-streaming app: reads ``booking.events`` from the beginning (a new consumer group
starts at the earliest offset) and applies each event once to the figures in Postgres.

Settings (environment): ``ANALYTICS_DATABASE_URL`` (postgresql://...),
``KAFKA_BOOTSTRAP_SERVERS`` (host:port,...), ``ANALYTICS_GROUP`` (the consumer group, default
``booking-analytics``), ``ANALYTICS_DATADIR`` (faust's working directory).

Why the state is in Postgres and not in faust tables: counting an event once needs its id
remembered in the same transaction as the figures it changes. A faust table is a changelog
topic: exactly once there needs Kafka transactions end to end, and still would not recognise the
same event published twice upstream (the platform's outbox publishes at least once, keeping
``ce_source`` + ``ce_id``). One Postgres transaction per event does both.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
import faust

from analytics import connect, store
from contracts import cloudevents
from contracts.registry import REGISTRY
from contracts.topics import BOOKING_EVENTS

log = logging.getLogger("analytics")

GROUP = os.environ.get("ANALYTICS_GROUP", "booking-analytics")
app = faust.App(
    GROUP,
    broker=",".join(f"kafka://{h}" for h in connect.BOOTSTRAP.split(",")),
    broker_credentials=connect.faust_credentials(),
    value_serializer="raw",
    key_serializer="raw",
    web_enabled=False,
    topic_disable_leader=True,
    topic_allow_declare=False,  # booking.events belongs to the platform
    consumer_auto_offset_reset="earliest",  # a new group reads from the beginning
    broker_commit_interval=1.0,
    stream_wait_empty=False,
    datadir=Path(os.environ.get("ANALYTICS_DATADIR") or tempfile.gettempdir()) / f"{GROUP}-faust",
)
topic = app.topic(BOOKING_EVENTS.name, key_type=bytes, value_type=bytes)
_pool: asyncpg.Pool | None = None


async def pool() -> asyncpg.Pool:
    global _pool
    if _pool is None:
        _pool = await asyncpg.create_pool(
            os.environ["ANALYTICS_DATABASE_URL"], min_size=1, max_size=4
        )
        async with _pool.acquire() as conn:
            await store.create_schema(conn)
    return _pool


async def handle(record: Any) -> None:
    """One record: parse it with nothing but ``contracts``, count it once. Records that are not
    booking events this release knows are skipped (the topic grows new types); a database
    failure is retried until it passes, so nothing is skipped for it."""
    try:
        event = cloudevents.parse(record.key, record.value, list(record.headers or ()))
    except cloudevents.InvalidCloudEvent as exc:
        log.warning("skipping a record that is not a CloudEvent: %s", exc)
        return
    model = REGISTRY.get(event.type)
    if model is None:
        return  # a type newer than this consumer
    message = model.model_validate_json(event.data)
    delay = 0.2
    while True:
        try:
            async with (await pool()).acquire() as conn:
                await store.record(conn, event.source, event.id, message)
            return
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            log.warning("database unavailable (%s); retrying in %.1fs", type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


@app.task
async def prepare() -> None:
    """Connect and create the tables when the worker starts."""
    await pool()


@app.agent(topic)
async def count(stream: Any) -> None:
    async for event in stream.events():
        await handle(event.message)
