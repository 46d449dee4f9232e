"""The operations port of every worker: liveness that asks nothing, readiness that asks Postgres
and Kafka (and says when a partition is stalled), and the Prometheus metrics of the consumers,
the relay and the jobs."""

from __future__ import annotations

import httpx
import pytest

from devstack.client import PlatformClient
from devstack.platform import SERVICES, Platform


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_worker_answers_health_readiness_and_metrics(
    platform: Platform, client: PlatformClient, service: str
) -> None:
    base = platform.ops_url(service)
    health = httpx.get(f"{base}/healthz", timeout=5)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "service": service, "role": "worker"}
    ready = httpx.get(f"{base}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    # "consumer": no partition of this worker is stalled on transient failures.
    assert ready.json()["checks"] == {"database": "ok", "kafka": "ok", "consumer": "ok"}
    metrics = httpx.get(f"{base}/metrics", timeout=5)
    assert metrics.headers["content-type"].startswith("text/plain")
    # The embedded relay reports its outbox; every worker consumes something.
    assert f'outbox_pending_rows{{service="{service}"}}' in metrics.text
    assert "consumer_messages_total" in metrics.text


def test_workers_report_lag_dead_letters_and_saga_durations(
    platform: Platform, client: PlatformClient
) -> None:
    import re
    import time
    import uuid
    from datetime import UTC, datetime, timedelta

    from devstack.client import booking_body

    resource = client.create_resource(f"metrics {uuid.uuid4().hex[:6]}", capacity=1)
    client.create_rate_plan(resource["id"], "70.00", "EUR")
    day = datetime.now(UTC).date() + timedelta(days=40)
    booking = client.book(booking_body(resource["id"], day), key=str(uuid.uuid4())).json()
    assert client.wait_terminal(booking["id"])["status"] == "confirmed"
    text = httpx.get(f"{platform.ops_url('booking')}/metrics", timeout=5).text
    done = re.search(
        r'saga_duration_seconds_count\{outcome="succeeded",saga_type="([a-z_]+)"\} ([0-9.]+)', text
    )
    assert done and float(done.group(2)) >= 1, "no finished saga observed"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the lag job reports every 15 s
        text = httpx.get(f"{platform.ops_url('inventory')}/metrics", timeout=5).text
        if (
            'consumer_lag_messages{consumer="inventory-worker",partition="0",topic="inventory.commands"}'
            in text
        ):
            break
        time.sleep(1)
    else:
        raise AssertionError("no consumer lag reported")
    assert 'dlq_depth_messages{topic="inventory.commands.dlq"}' in text


def test_every_declared_topic_is_made_so_an_acknowledged_write_survives_a_broker(
    platform: Platform,
) -> None:
    """``booking-topics`` (here through the launcher) sets ``min.insync.replicas`` to RF-1 (at
    least 1) and turns off unclean leader election on every topic it makes, beside the
    topic's own configs: on the topic itself, whatever the brokers' defaults are."""
    import asyncio

    from contracts.topics import ALL_TOPICS
    from messaging.kafka import durable_configs
    from tests.support.kafka import topic_configs

    configs = asyncio.run(topic_configs(platform.bootstrap, [t.name for t in ALL_TOPICS]))
    for topic in ALL_TOPICS:
        got = configs[topic.name]
        assert got["min.insync.replicas"] == "1", topic.name  # one broker here: RF 1
        assert got["unclean.leader.election.enable"] == "false", topic.name
        for key, value in topic.configs.items():
            assert got[key] == value, (topic.name, key)
    assert durable_configs(ALL_TOPICS[0], 3)["min.insync.replicas"] == "2"
    assert durable_configs(ALL_TOPICS[0], 2)["min.insync.replicas"] == "1"
