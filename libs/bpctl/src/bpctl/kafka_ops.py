"""Dead letters and replays: the Kafka work of ``bpctl``, each bounded (it reads up to the end
offsets it saw when it began, so it stops by itself) and safe to run again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from messaging import security
from messaging.admin import admin, group_states, offsets_reader
from messaging.kafka import reliable_producer

REDRIVE_GROUP = "bpctl-redrive.{topic}"


class Refused(RuntimeError):
    """The operation would do harm; the message says why and what to do instead."""


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: str | None
    ce_type: str | None
    ce_id: str | None
    error: str | None
    consumer: str | None
    failed_at: str | None
    original_topic: str | None
    redriven: bool


def _headers(record: object) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (getattr(record, "headers", None) or ()) if v}


async def _partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    async with admin(bootstrap) as client:
        described = await client.describe_topics([topic])
    if not described or described[0]["error_code"] != 0:
        raise Refused(f"no topic {topic!r}")
    return sorted(TopicPartition(topic, p["partition"]) for p in described[0]["partitions"])


async def _committed(
    bootstrap: str, group: str, tps: list[TopicPartition]
) -> dict[TopicPartition, int]:
    async with admin(bootstrap) as client:
        offsets = await client.list_consumer_group_offsets(group, partitions=tps)
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def _read(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
) -> list[object]:
    """Every record from ``starts`` up to (not including) ``ends``, per partition."""
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, starts[tp])
    records: list[object] = []
    pending = {tp for tp in tps if starts[tp] < ends[tp]}
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=500)
        for tp, items in batch.items():
            for record in items:
                if record.offset < ends[tp]:
                    records.append(record)
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
    return records


async def dead_letters(bootstrap: str, topic: str, limit: int | None = None) -> list[DeadLetter]:
    dlq = topic if topic.endswith(".dlq") else f"{topic}.dlq"
    tps = await _partitions(bootstrap, dlq)
    done = await _committed(bootstrap, REDRIVE_GROUP.format(topic=dlq), tps)
    async with offsets_reader(bootstrap) as reader:
        starts = await reader.beginning_offsets(tps)
        ends = await reader.end_offsets(tps)
        records = await _read(reader, tps, starts, ends)
    out = []
    for record in records:
        h = _headers(record)
        tp = TopicPartition(dlq, record.partition)  # type: ignore[attr-defined]
        out.append(
            DeadLetter(
                partition=record.partition,  # type: ignore[attr-defined]
                offset=record.offset,  # type: ignore[attr-defined]
                key=record.key.decode(errors="replace") if record.key else None,  # type: ignore[attr-defined]
                ce_type=h.get("ce_type"),
                ce_id=h.get("ce_id"),
                error=h.get("dlq_error"),
                consumer=h.get("dlq_consumer"),
                failed_at=h.get("dlq_failed_at"),
                original_topic=h.get("dlq_original_topic"),
                redriven=record.offset < done.get(tp, 0),  # type: ignore[attr-defined]
            )
        )
    out.sort(key=lambda d: (d.failed_at or "", d.partition, d.offset))
    return out[:limit] if limit else out


async def redrive(
    bootstrap: str,
    topic: str,
    *,
    limit: int | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> int:
    """Publish each dead letter not yet redriven back to its original topic, unchanged but for
    the ``dlq_*`` headers (same key, value and ``ce_id``: a consumer that did apply it after
    all ignores it). Progress is committed per record under ``bpctl-redrive.<dlq topic>``, so
    an interrupted redrive resumes where it stopped and a second one sends nothing twice."""
    dlq = topic if topic.endswith(".dlq") else f"{topic}.dlq"
    group = REDRIVE_GROUP.format(topic=dlq)
    tps = await _partitions(bootstrap, dlq)
    active = [g for g in await group_states(bootstrap, [group]) if g.members]
    if active:
        raise Refused(f"another redrive of {dlq} is running ({active[0].members} member(s))")
    done = await _committed(bootstrap, group, tps)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        **security.client_kwargs(),
    )
    producer = reliable_producer(bootstrap, "bpctl-redrive")
    await consumer.start()
    await producer.start()
    try:
        starts_at = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        starts = {tp: max(done.get(tp, 0), starts_at[tp]) for tp in tps}
        records = await _read(consumer, tps, starts, ends)
        records.sort(key=lambda r: (r.timestamp, r.partition, r.offset))  # type: ignore[attr-defined]
        if limit is not None:
            records = records[:limit]
        total = len(records)
        progress(0, total)
        for sent, record in enumerate(records, start=1):
            headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq_")]  # type: ignore[attr-defined]
            original = _headers(record).get("dlq_original_topic") or dlq.removesuffix(".dlq")
            await producer.send_and_wait(
                original,
                value=record.value,  # type: ignore[attr-defined]
                key=record.key,  # type: ignore[attr-defined]
                headers=headers,
            )
            tp = TopicPartition(dlq, record.partition)  # type: ignore[attr-defined]
            await consumer.commit({tp: OffsetAndMetadata(record.offset + 1, "")})  # type: ignore[attr-defined]
            progress(sent, total)
        return total
    finally:
        await producer.stop()
        await consumer.stop()


@dataclass(frozen=True)
class Reset:
    partition: int
    before: int | None
    after: int


async def reset_offsets(
    bootstrap: str,
    group: str,
    topic: str,
    *,
    to_offset: int | None = None,
    to_time: datetime | None = None,
    apply: bool = False,
) -> list[Reset]:
    """Move ``group``'s committed offsets on ``topic``: to the beginning (neither argument),
    to an offset (clamped to what the partition still holds) or to the first record at or
    after a time (the end where there is none). Refused while the group has members: a running
    consumer would overwrite the offsets at its next commit. ``apply=False`` only plans."""
    states = await group_states(bootstrap, [group])
    live = [s for s in states if s.members]
    if live:
        raise Refused(
            f"group {group} has {live[0].members} running member(s) ({live[0].state}); "
            "scale its consumers to zero first, replay, then start them again"
        )
    tps = await _partitions(bootstrap, topic)
    before = await _committed(bootstrap, group, tps)
    async with offsets_reader(bootstrap) as reader:
        starts = await reader.beginning_offsets(tps)
        ends = await reader.end_offsets(tps)
        if to_time is not None:
            found = await reader.offsets_for_times(
                {tp: int(to_time.timestamp() * 1000) for tp in tps}
            )
            target = {tp: found[tp].offset if found[tp] else ends[tp] for tp in tps}
        elif to_offset is not None:
            target = {tp: min(max(to_offset, starts[tp]), ends[tp]) for tp in tps}
        else:
            target = dict(starts)
    if apply:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            enable_auto_commit=False,
            **security.client_kwargs(),
        )
        await consumer.start()
        try:
            consumer.assign(tps)
            await consumer.commit({tp: OffsetAndMetadata(target[tp], "") for tp in tps})
        finally:
            await consumer.stop()
    return [Reset(tp.partition, before.get(tp), target[tp]) for tp in tps]
