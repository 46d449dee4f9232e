"""The operations port of every worker: liveness that asks nothing, readiness that asks Postgres
and Kafka, and the Prometheus metrics of the consumers, the relay and the jobs."""

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
    assert ready.json()["checks"] == {"database": "ok", "kafka": "ok"}
    metrics = httpx.get(f"{base}/metrics", timeout=5)
    assert metrics.headers["content-type"].startswith("text/plain")
    # The embedded relay reports its outbox; every worker consumes something.
    assert f'outbox_pending_rows{{service="{service}"}}' in metrics.text
    assert "consumer_messages_total" in metrics.text
