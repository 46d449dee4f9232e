"""What operators ask Kafka: consumer lag per group and partition, topics as they are, and
a group's state. Shared by ``bpctl`` and the workers' lag gauge."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from messaging import security


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None  # None: the group never committed here (it starts at the earliest)
    start: int
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed if self.committed is not None else self.start)


@dataclass(frozen=True)
class GroupState:
    group: str
    state: str  # Stable, Empty, Dead, PreparingRebalance, CompletingRebalance
    members: int


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    replicas: int
    in_sync: int  # the fewest in-sync replicas of any partition
    offline: int  # partitions without a leader
    messages: int  # end offsets minus start offsets, summed


@asynccontextmanager
async def admin(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="booking-admin", **security.client_kwargs()
    )
    await client.start()
    try:
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def offsets_reader(bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer in no group: reads offsets, commits nothing."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        **security.client_kwargs(),
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def groups(bootstrap: str) -> list[str]:
    async with admin(bootstrap) as client:
        return sorted(g for g, _ in await client.list_consumer_groups())


async def group_states(bootstrap: str, names: list[str]) -> list[GroupState]:
    async with admin(bootstrap) as client:
        responses = await client.describe_consumer_groups(names)
    out = []
    for response in responses:
        for g in response.to_object()["groups"]:
            out.append(GroupState(g["group"], g["state"], len(g["members"])))
    return out


class AdminSession:
    """One admin client and one offsets reader, kept open for a process's periodic reads (the
    workers' lag gauge, the booking worker's step-deadline sweep): the TLS handshake and the
    SASL authentication (SCRAM's key stretching, on both sides) happen once, not on every read.
    A read that fails closes both, and the next one opens them again (a broker restarted, the
    cluster moved)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._admin: AIOKafkaAdminClient | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> AdminSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._reader is None:
            await self.close()
            client = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id="booking-admin",
                **security.client_kwargs(),
            )
            reader = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=None,  # a consumer in no group: reads offsets, commits nothing
                enable_auto_commit=False,
                **security.client_kwargs(),
            )
            try:
                await client.start()
                await reader.start()
            except BaseException:
                await _quietly(client.close())
                await _quietly(reader.stop())
                raise
            self._admin, self._reader = client, reader
        return self._admin, self._reader

    async def close(self) -> None:
        admin_, reader, self._admin, self._reader = self._admin, self._reader, None, None
        if admin_ is not None:
            await _quietly(admin_.close())
        if reader is not None:
            await _quietly(reader.stop())

    async def _read(self, read: Any) -> Any:
        async with self._lock:  # one read at a time on the shared clients
            try:
                return await read(*await self._clients())
            except BaseException:
                await self.close()
                raise

    async def lag(
        self, names: list[str] | None = None, topics: dict[str, list[str]] | None = None
    ) -> list[PartitionLag]:
        """Per group, every partition of each topic it consumes: committed offset, end and lag.
        A group's topics are those it has committed on, and ``topics[group]`` when given (a
        partition it never committed on still counts: its messages wait too)."""
        return list(await self._read(lambda c, r: _lag(c, r, names, topics)))

    async def topics(self, names: list[str] | None = None) -> list[TopicInfo]:
        return list(await self._read(lambda c, r: _topics(c, r, names)))


async def _quietly(closing: Any) -> None:
    with contextlib.suppress(Exception):  # closing what already failed
        await closing


async def lag(
    bootstrap: str, names: list[str] | None = None, topics: dict[str, list[str]] | None = None
) -> list[PartitionLag]:
    """:meth:`AdminSession.lag` on clients of its own (bpctl's one-off reads)."""
    async with AdminSession(bootstrap) as session:
        return await session.lag(names, topics)


async def topics(bootstrap: str, names: list[str] | None = None) -> list[TopicInfo]:
    """:meth:`AdminSession.topics` on clients of its own."""
    async with AdminSession(bootstrap) as session:
        return await session.topics(names)


async def _lag(
    client: AIOKafkaAdminClient,
    reader: AIOKafkaConsumer,
    names: list[str] | None,
    topics: dict[str, list[str]] | None,
) -> list[PartitionLag]:
    wanted = (
        names if names is not None else sorted(g for g, _ in await client.list_consumer_groups())
    )
    committed: dict[str, dict[TopicPartition, Any]] = {}
    for group in wanted:
        committed[group] = await client.list_consumer_group_offsets(group)
    consumed = {
        g: sorted({tp.topic for tp in offsets} | set((topics or {}).get(g, [])))
        for g, offsets in committed.items()
    }
    names_needed = sorted({t for ts in consumed.values() for t in ts})
    described = await client.describe_topics(names_needed) if names_needed else []
    partitions = {
        t["topic"]: [p["partition"] for p in t["partitions"]]
        for t in described
        if t["error_code"] == 0
    }
    tps = [TopicPartition(t, p) for t, ps in partitions.items() for p in ps]
    if not tps:
        return []
    starts, ends = await asyncio.gather(reader.beginning_offsets(tps), reader.end_offsets(tps))
    rows = []
    for group, group_topics in consumed.items():
        for topic in group_topics:
            for partition in partitions.get(topic, []):
                tp = TopicPartition(topic, partition)
                meta = committed[group].get(tp)
                offset = meta.offset if meta is not None and meta.offset >= 0 else None
                rows.append(PartitionLag(group, topic, partition, offset, starts[tp], ends[tp]))
    return sorted(rows, key=lambda r: (r.group, r.topic, r.partition))


async def _topics(
    client: AIOKafkaAdminClient, reader: AIOKafkaConsumer, names: list[str] | None
) -> list[TopicInfo]:
    listed = names or sorted(t for t in await client.list_topics() if not t.startswith("_"))
    described = await client.describe_topics(listed)
    tps = [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if t["error_code"] == 0
        for p in t["partitions"]
    ]
    starts, ends = await asyncio.gather(reader.beginning_offsets(tps), reader.end_offsets(tps))
    out = []
    for t in described:
        if t["error_code"] != 0:
            continue
        parts = t["partitions"]
        out.append(
            TopicInfo(
                name=t["topic"],
                partitions=len(parts),
                replicas=max((len(p["replicas"]) for p in parts), default=0),
                in_sync=min((len(p["isr"]) for p in parts), default=0),
                offline=sum(1 for p in parts if p["leader"] < 0),
                messages=sum(
                    ends[TopicPartition(t["topic"], p["partition"])]
                    - starts[TopicPartition(t["topic"], p["partition"])]
                    for p in parts
                ),
            )
        )
    return sorted(out, key=lambda t: t.name)
