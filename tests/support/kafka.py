"""Kafka helpers for the tests: write CloudEvents as the platform's producers do, read a key's
records from the beginning, publish a record again exactly as it was (a duplicate delivery),
wait until a consumer group has moved past it."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.base import ContractMessage
from contracts.topics import TopicSpec
from messaging import security
from messaging.envelope import Envelope

if TYPE_CHECKING:
    from devstack.platform import Platform

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]  # key, value, headers


def envelope(
    ce_type: str, data: bytes, key: str, *, message_id: str | None = None, **extra: Any
) -> Envelope:
    """A CloudEvent of ``ce_type`` carrying ``data`` (valid or not: a poison message), with a
    fresh id unless one is given (a resend, not a redelivery)."""
    extra.setdefault("source", "/tests")
    return Envelope(
        id=message_id or str(uuid.uuid4()),
        type=ce_type,
        time=datetime.now(UTC),
        data=data,
        partitionkey=key,
        **extra,
    )


def envelope_of(message: ContractMessage, key: str, **kw: Any) -> Envelope:
    """``message`` as the CloudEvent its producer would write."""
    return envelope(message.ce_type(), message.model_dump_json().encode(), key, **kw)


def record_of(env: Envelope) -> Record:
    assert env.partitionkey is not None
    return env.partitionkey.encode(), env.data, env.headers()


async def publish(platform: Platform, topic: str, records: list[Record]) -> list[Any]:
    """Write ``records`` in order (acks from every in-sync replica); their metadata."""
    producer = AIOKafkaProducer(**platform.kafka_kwargs(), acks="all")
    await producer.start()
    try:
        return [
            await producer.send_and_wait(topic, value, key=key, headers=headers)
            for key, value, headers in records
        ]
    finally:
        await producer.stop()


async def records_of(
    bootstrap: str, topic: TopicSpec, key: str | None, want: int, timeout: float = 30.0
) -> list[Any]:
    """The first ``want`` records with ``key`` (any key when None) on ``topic``, in partition
    order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        **security.client_kwargs(),
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(found) < want and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found += [r for r in records if key is None or r.key == key.encode()]
        return found
    finally:
        await consumer.stop()


async def republish(bootstrap: str, record: Any) -> int:
    """Publish ``record`` again, byte for byte, to its partition; returns the new offset."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, **security.client_kwargs(), enable_idempotence=True
    )
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            record.topic,
            value=record.value,
            key=record.key,
            partition=record.partition,
            headers=list(record.headers),
        )
        return int(meta.offset)
    finally:
        await producer.stop()


async def wait_consumed(
    bootstrap: str, group: str, topic: str, partition: int, offset: int, timeout: float = 30.0
) -> bool:
    """True once ``group`` has committed past ``offset`` on the partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.client_kwargs())
    await admin.start()
    try:
        tp = TopicPartition(topic, partition)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            committed = await admin.list_consumer_group_offsets(group, partitions=[tp])
            meta = committed.get(tp)
            if meta is not None and meta.offset > offset:
                return True
            await asyncio.sleep(0.3)
        return False
    finally:
        await admin.close()


async def caught_up(bootstrap: str, group: str, topic: TopicSpec, timeout: float = 60.0) -> bool:
    """True once ``group`` has committed the end offset of every partition of ``topic``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, **security.client_kwargs(), enable_auto_commit=False
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.client_kwargs())
    await consumer.start()
    await admin.start()
    try:
        tps = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            if all(
                committed.get(tp) is not None and committed[tp].offset >= ends[tp] for tp in tps
            ):
                return True
            await asyncio.sleep(0.3)
        return False
    finally:
        await admin.close()
        await consumer.stop()


async def topic_configs(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    """Each topic's configs set on the topic itself (not the broker's defaults)."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.client_kwargs())
    await admin.start()
    try:
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
    finally:
        await admin.close()
    found: dict[str, dict[str, str]] = {}
    for answer in answers:
        for resource in answer.resources:
            error_code, _message, _type, name, entries = resource[:5]
            assert error_code == 0, resource
            # (name, value, read only, then "is default" in version 0 of the answer, the
            # config's source from version 1 on: 1 is the topic's own).
            found[name] = {
                entry[0]: entry[1]
                for entry in entries
                if (entry[3] is False if isinstance(entry[3], bool) else entry[3] == 1)
            }
    return found
