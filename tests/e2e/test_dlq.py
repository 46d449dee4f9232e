"""A poison message is dead-lettered with its provenance and the partition keeps moving."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.common import StayPeriod
from contracts.inventory import ReserveCapacity
from contracts.topics import INVENTORY_COMMANDS
from devstack.client import PlatformClient
from devstack.platform import Platform
from messaging import tracing
from messaging.envelope import Envelope
from tests.support.db import scalar

pytestmark = pytest.mark.e2e


async def read_dlq(platform: Platform, key: bytes, want: int, timeout: float = 60.0) -> list:
    consumer = AIOKafkaConsumer(bootstrap_servers=platform.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        dlq = INVENTORY_COMMANDS.dlq
        tps = [TopicPartition(dlq.name, p) for p in range(dlq.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: list = []
        deadline = time.monotonic() + timeout
        while len(found) < want and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(r for r in records if r.key == key)
        return found
    finally:
        await consumer.stop()


async def test_poison_messages_go_to_the_dlq_and_the_next_message_is_processed(
    platform: Platform, client: PlatformClient
) -> None:
    resource = client.create_resource(f"Loft {uuid.uuid4().hex[:6]}", capacity=1)
    booking_id = f"dlq-{uuid.uuid4()}"
    key = booking_id.encode()
    valid = ReserveCapacity(
        booking_id=booking_id,
        step="reserve_capacity",
        resource_id=resource["id"],
        period=StayPeriod(
            check_in=date.today() + timedelta(days=400),
            check_out=date.today() + timedelta(days=401),
        ),
    )
    envelope = Envelope(
        id=str(uuid.uuid4()),
        source="/tests",
        type=valid.ce_type(),
        time=datetime.now(UTC),
        data=valid.model_dump_json().encode(),
        partitionkey=booking_id,
        traceparent=tracing.new_traceparent(),
    )
    bad_schema = Envelope(
        id=str(uuid.uuid4()),
        source="/tests",
        type=valid.ce_type(),
        time=datetime.now(UTC),
        data=b'{"booking_id": 42}',
        partitionkey=booking_id,
    )
    producer = AIOKafkaProducer(bootstrap_servers=platform.bootstrap, acks="all")
    await producer.start()
    try:
        garbage = await producer.send_and_wait(
            INVENTORY_COMMANDS.name, b"\x00not a cloudevent", key=key, headers=[("x", b"y")]
        )
        schema = await producer.send_and_wait(
            INVENTORY_COMMANDS.name, bad_schema.data, key=key, headers=bad_schema.headers()
        )
        good = await producer.send_and_wait(
            INVENTORY_COMMANDS.name, envelope.data, key=key, headers=envelope.headers()
        )
    finally:
        await producer.stop()
    assert garbage.partition == schema.partition == good.partition

    dead = await read_dlq(platform, key, want=2)
    assert len(dead) == 2
    by_offset = {int(dict(r.headers)["dlq_original_offset"]): r for r in dead}
    assert set(by_offset) == {garbage.offset, schema.offset}
    first = dict(by_offset[garbage.offset].headers)
    assert first["dlq_original_topic"] == INVENTORY_COMMANDS.name.encode()
    assert int(first["dlq_original_partition"]) == garbage.partition
    assert b"missing CloudEvents attributes" in first["dlq_error"]
    assert first["dlq_consumer"] == b"inventory-worker"
    assert first["x"] == b"y", "original headers are kept"
    assert by_offset[garbage.offset].value == b"\x00not a cloudevent"
    assert b"does not match its schema" in dict(by_offset[schema.offset].headers)["dlq_error"]

    # The partition moved on: the valid command after the poison was applied.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (
            scalar(
                platform.database_urls["inventory"],
                "SELECT count(*) FROM reservations WHERE booking_id = $1",
                booking_id,
            )
            == 1
        ):
            break
        await asyncio.sleep(0.2)
    assert (
        scalar(
            platform.database_urls["inventory"],
            "SELECT status FROM reservations WHERE booking_id = $1",
            booking_id,
        )
        == "held"
    )
