"""A three-broker Kafka cluster loses no acknowledged message when a partition leader dies.

Two relay processes publish an outbox (``acks=all``, idempotent producers) to a topic of three
replicas (``min.insync.replicas`` 2, no unclean leader election, as ``booking-topics`` makes
them) while rows keep being written; the leader of a partition is SIGKILLed mid-flow and comes
back later. Every row the relays marked sent (Kafka acknowledged it) is on the topic, each key's
messages arrive in the order they were written, and the relays carry on through the failover."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text

from contracts.topics import TopicSpec
from devstack.kafka import KafkaCluster
from devstack.platform import Platform
from messaging.kafka import ensure_topics
from service_kit.db import asyncpg_dsn, make_engine
from tests.support import scratch_db
from tests.support.outbox_flow import (
    assert_per_key_order,
    consume_all,
    count_sent,
    start_relay,
    write,
)

pytestmark = pytest.mark.fault

ROWS = 1500
KEYS = 30


@pytest.fixture(scope="module")
def cluster() -> Iterator[KafkaCluster]:
    workdir = Path(tempfile.mkdtemp(prefix="booking-kafka-cluster-", dir="/var/tmp"))
    brokers = KafkaCluster(workdir)
    try:
        brokers.start()
        yield brokers
    finally:
        brokers.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def db_url(platform: Platform) -> str:
    return scratch_db.create(platform, "kafka_cluster_test")


@pytest.fixture
def plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process and the relays it starts speak plain text, to the cluster (the session's
    broker is SASL_SSL; the cluster is the tests' own, on loopback)."""
    for name in list(os.environ):
        if name.startswith("KAFKA_") and name != "KAFKA_BOOTSTRAP_SERVERS":
            monkeypatch.delenv(name)


async def _leader_of(bootstrap: str, topic: str, partition: int) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        [found] = [p for p in described["partitions"] if p["partition"] == partition]
        return int(found["leader"])
    finally:
        await admin.close()


async def test_a_partition_leader_killed_mid_flow_loses_no_acknowledged_message(
    platform: Platform, db_url: str, cluster: KafkaCluster, plain_text: None
) -> None:
    engine = make_engine(db_url, pool_size=4)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE outbox"))
    topic = TopicSpec(f"test.cluster.{uuid.uuid4().hex[:8]}", 3, "key", "leader failover")
    await ensure_topics(cluster.bootstrap, (topic,), replication_factor=3)
    relays = [
        start_relay(platform, db_url, 50, name=f"cluster-relay-{n}", bootstrap=cluster.bootstrap)
        for n in (1, 2)
    ]
    killed: list[int] = []
    try:
        progress = {"written": 0, "sent_at_kill": 0, "written_at_kill": 0}

        async def writer() -> None:
            seq = dict.fromkeys(range(KEYS), 0)
            for _ in range(ROWS):
                key = random.randrange(KEYS)
                seq[key] += 1
                await write(engine, topic, f"k{key}", seq[key])
                progress["written"] += 1
                await asyncio.sleep(0.01)

        async def failover() -> None:
            # Mid-flow: once the relays have had a good part acknowledged, and rows keep coming.
            while await count_sent(db_url) < ROWS // 5:
                await asyncio.sleep(0.1)
            progress["sent_at_kill"] = await count_sent(db_url)
            progress["written_at_kill"] = progress["written"]
            leader = await _leader_of(cluster.bootstrap, topic.name, 0)
            node = cluster.node(leader)
            assert node.pid is not None
            node.kill()  # SIGKILL: no clean shutdown, no leadership hand-off
            killed.append(leader)
            await asyncio.sleep(8.0)
            node.launch()  # from this thread (a process dies with the thread that started it)
            await asyncio.to_thread(node.wait_listening)

        await asyncio.gather(writer(), failover())
        deadline = time.monotonic() + 120
        while await count_sent(db_url) < ROWS and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert await count_sent(db_url) == ROWS, "the relays did not finish through the failover"
        written = await _written_ids(db_url)
        records, ids = await consume_all(
            {"bootstrap_servers": cluster.bootstrap}, topic, ROWS, timeout=90
        )
        assert killed, "no leader was killed"
        assert progress["written_at_kill"] < ROWS, "the leader died after the last write"
        assert ids == written, f"{len(written - ids)} acknowledged messages lost"
        assert_per_key_order(records)
        moved = await _leader_of(cluster.bootstrap, topic.name, 0)
        print(
            f"killed node {killed[0]} (leader of partition 0) after {progress['sent_at_kill']} "
            f"of {progress['written_at_kill']} written rows were acknowledged; {ROWS} rows, "
            f"{len(records)} records ({len(records) - len(ids)} redelivered), partition 0 now "
            f"led by node {moved}"
        )
    finally:
        for relay in relays:
            relay.stop()
        await engine.dispose()


async def _written_ids(db_url: str) -> set[str]:
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        return {str(r["message_id"]) for r in await conn.fetch("SELECT message_id FROM outbox")}
    finally:
        await conn.close()


def test_the_platform_runs_on_a_secured_three_broker_cluster() -> None:
    """``PLATFORM_KAFKA_BROKERS=3``: the launcher starts three SASL_SSL nodes with one CA and
    one set of principals, makes every topic with three replicas (two in sync to acknowledge),
    and a booking is confirmed through it."""
    from contracts.topics import ALL_TOPICS
    from devstack.client import PlatformClient, booking_body
    from devstack.platform import SERVICES, PlatformConfig
    from tests.support.kafka import topic_configs

    workdir = Path(tempfile.mkdtemp(prefix="booking-cluster-platform-", dir="/var/tmp"))
    workdir.chmod(0o755)
    platform = Platform(PlatformConfig.ephemeral(workdir, kafka_brokers=3))
    try:
        platform.start()
        assert isinstance(platform.kafka, KafkaCluster) and platform.kafka.secured
        assert platform.bootstrap.count(",") == 2
        configs = asyncio.run(topic_configs(platform.bootstrap, [t.name for t in ALL_TOPICS]))
        assert {c["min.insync.replicas"] for c in configs.values()} == {"2"}

        async def replicas() -> set[int]:
            admin = AIOKafkaAdminClient(**platform.kafka_kwargs())
            await admin.start()
            try:
                described = await admin.describe_topics([t.name for t in ALL_TOPICS])
            finally:
                await admin.close()
            return {len(p["replicas"]) for t in described for p in t["partitions"]}

        assert asyncio.run(replicas()) == {3}
        client = PlatformClient(
            {s: platform.url(s) for s in SERVICES}, token=platform.token(), timeout=60.0
        )
        try:
            resource = client.create_resource(f"Cluster {uuid.uuid4().hex[:6]}", capacity=2)
            client.create_rate_plan(resource["id"], "80.00", "EUR")
            booking = client.book(
                booking_body(resource["id"], date.today() + timedelta(days=30)), wait=60
            ).json()
            assert client.wait_terminal(booking["id"], timeout=120)["status"] == "confirmed"
        finally:
            client.close()
    finally:
        platform.stop()
        shutil.rmtree(workdir, ignore_errors=True)
