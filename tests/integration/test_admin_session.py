"""The workers' long-lived Kafka admin session (messaging.admin.AdminSession): its clients are
opened once and reused by every read (each new connection to a secured broker is a TLS
handshake and a SCRAM exchange on both sides), and a broker that dies and comes back costs at
most the reads made while it was away: the session reopens its clients on the next read."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from contracts.topics import TopicSpec
from devstack.kafka import KafkaBroker
from devstack.procs import free_ports, port_open
from messaging.admin import AdminSession
from messaging.kafka import ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
TOPIC = TopicSpec("admin-session.probe", 2, "key", "the admin session test's topic")


async def _probe(broker: KafkaBroker) -> tuple[bool, bool, bool, bool]:
    await ensure_topics(broker.bootstrap, [TOPIC], replication_factor=1)
    async with AdminSession(broker.bootstrap) as session:
        [info] = await session.topics([TOPIC.name])
        first = session._admin, session._reader
        await session.lag()
        await session.topics([TOPIC.name])
        reused = (session._admin, session._reader) == first and info.partitions == 2

        broker.kill()  # SIGKILL: every connection of the session is cut
        while port_open(broker.port):
            await asyncio.sleep(0.1)
        failed_while_away = False
        try:
            await asyncio.wait_for(session.topics([TOPIC.name]), 20)
        except Exception:  # any failure: the broker is gone
            failed_while_away = True
        broker.start()

        deadline = time.monotonic() + 90
        while True:
            try:
                [info] = await asyncio.wait_for(session.topics([TOPIC.name]), 20)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1)
        reopened = session._admin is not None and session._admin is not first[0]
        return reused, failed_while_away, info.partitions == 2, reopened


def test_one_session_serves_every_read_and_survives_a_broker_restart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A plain broker of its own: not the suite platform's secured one, whose settings the
    # session's clients would otherwise read from the environment.
    for name in [n for n in os.environ if n.startswith("KAFKA_")]:
        monkeypatch.delenv(name)
    workdir = Path(tempfile.mkdtemp(prefix="booking-admin-", dir="/var/tmp"))
    port, controller = free_ports(2)
    broker = KafkaBroker(workdir / "kafka", port, controller)
    broker.start()
    try:
        reused, failed_while_away, answered, reopened = asyncio.run(_probe(broker))
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    assert reused, "every read opened clients of its own"
    assert failed_while_away
    assert answered, "the session did not recover once the broker was back"
    assert reopened
