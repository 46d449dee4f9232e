"""The history checker: what the platform wrote (every outbox) against what reached Kafka
(every topic, read from the beginning) and what its consumers applied (their inboxes).

* lost: an outbox row that never reached its topic, or a command or reply on a topic that its
  consumer never applied (nor dead-lettered);
* out of order: a key whose rows were first seen on a topic in another order than written;
* duplicated: a message id applied twice by one consumer (the inbox's key makes it impossible;
  checked anyway), and effects checked by the invariants (``tests.support.invariants``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts import cloudevents as ce
from contracts.topics import (
    BOOKING_SAGA_REPLIES,
    INVENTORY_COMMANDS,
    PAYMENT_COMMANDS,
    PRICING_COMMANDS,
    PRIMARY_TOPICS,
    TopicSpec,
)
from devstack.platform import SERVICES, Platform
from messaging import security
from tests.support.db import fetch

# Topics whose every message its consumer applies (events may be skipped by type).
APPLIED_BY = {
    INVENTORY_COMMANDS.name: ("inventory", "inventory-worker"),
    PRICING_COMMANDS.name: ("pricing", "pricing-worker"),
    PAYMENT_COMMANDS.name: ("payment", "payment-worker"),
    BOOKING_SAGA_REPLIES.name: ("booking", "booking-worker"),
}
# (topic, record key, CloudEvents source): order is per producer; one booking's replies come
# from three services, each in its own order.
Key = tuple[str, str, str]


@dataclass
class History:
    written: dict[Key, list[str]] = field(default_factory=dict)
    delivered: dict[Key, list[str]] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)  # ids found on a dead-letter topic
    lost: list[str] = field(default_factory=list)
    unapplied: list[str] = field(default_factory=list)
    out_of_order: list[Key] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "messages_written": sum(map(len, self.written.values())),
            "messages_delivered": sum(map(len, self.delivered.values())),
            "dead_lettered": len(self.dead),
            "lost": len(self.lost),
            "unapplied": len(self.unapplied),
            "out_of_order_keys": len(self.out_of_order),
            "duplicated": len(self.duplicated),
        }


async def first_deliveries(
    bootstrap: str, topics: list[TopicSpec], timeout: float = 180.0
) -> dict[Key, list[str]]:
    """Per (topic, key, source), the CloudEvents ids in the order first seen on the topic."""
    seen: set[tuple[str, str]] = set()
    order: dict[Key, list[str]] = defaultdict(list)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        **security.client_kwargs(),
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    try:
        for topic in topics:
            name = topic.name
            tps = [TopicPartition(name, p) for p in range(topic.partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    for r in records:
                        headers = dict(r.headers)
                        ce_id = headers.get(ce.H_ID, b"").decode()
                        source = headers.get(ce.H_SOURCE, b"").decode()
                        if (name, ce_id) not in seen:
                            seen.add((name, ce_id))
                            order[(name, (r.key or b"").decode(), source)].append(ce_id)
                positions = {tp: await consumer.position(tp) for tp in tps}
                if all(positions[tp] >= ends[tp] for tp in tps):
                    break
            else:
                raise AssertionError(f"could not read {name} to its end")
    finally:
        await consumer.stop()
    return order


def outboxes(platform: Platform) -> dict[Key, list[str]]:
    """Per (topic, key, source), every outbox row's id in the order its service wrote them."""
    order: dict[Key, list[str]] = defaultdict(list)
    for service in SERVICES:
        for r in fetch(
            platform.database_urls[service],
            # outbox.id, not the message id: a bare "id" would sort by the output column.
            "SELECT topic, key, source, message_id::text AS message FROM outbox ORDER BY outbox.id",
        ):
            order[(r["topic"], r["key"], r["source"])].append(r["message"])
    return order


async def check(platform: Platform) -> History:
    """Read it all; the caller asserts on (or reports) what it found."""
    h = History(written=outboxes(platform))
    h.delivered = await first_deliveries(platform.bootstrap, list(PRIMARY_TOPICS))
    dead = await first_deliveries(platform.bootstrap, [t.dlq for t in PRIMARY_TOPICS])
    h.dead = {i for ids in dead.values() for i in ids}
    for key, ids in h.written.items():
        got = h.delivered.get(key, [])
        missing = set(ids) - set(got)
        h.lost += sorted(missing)
        if [i for i in got if i in set(ids)] != [i for i in ids if i in set(got)]:
            h.out_of_order.append(key)
    for topic, (service, consumer) in APPLIED_BY.items():
        applied = fetch(
            platform.database_urls[service],
            "SELECT message_id, count(*) AS n FROM inbox WHERE consumer = $1 GROUP BY message_id",
            consumer,
        )
        counts = {r["message_id"]: r["n"] for r in applied}
        h.duplicated += [i for i, n in counts.items() if n > 1]
        for (t, _, _), ids in h.delivered.items():
            if t == topic:
                h.unapplied += [i for i in ids if i not in counts and i not in h.dead]
    return h
