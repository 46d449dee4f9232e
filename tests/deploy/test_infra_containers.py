"""The local platform with its Kafka and Postgres in containers (PLATFORM_INFRA=containers),
for operators who prefer them there: the same broker and server, run by podman from the infra
images (devstack.images), and the services as processes against them. A booking is
confirmed, the servers' processes are the ones the fault tests signal, and stopping the
platform leaves no container behind."""

from __future__ import annotations

import os
import subprocess
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest

from devstack import images
from devstack.client import PlatformClient, booking_body
from devstack.platform import SERVICES, Platform, PlatformConfig

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def _containers() -> list[str]:
    out = subprocess.run(
        ["podman", "ps", "--format", "{{.Names}}"],
        env=images.podman_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return [n for n in out.stdout.split() if n.startswith("booking-")]


def test_the_platform_runs_on_kafka_and_postgres_in_containers() -> None:
    why = images.available()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the container tests must run in CI: {why}")
        pytest.skip(why)
    workdir = Path(tempfile.mkdtemp(prefix="booking-infra-", dir="/var/tmp"))
    config = PlatformConfig.ephemeral(workdir, infra_containers=True)
    with Platform(config) as platform:
        assert platform.kafka is not None and platform.postgres is not None
        names = _containers()
        assert f"booking-kafka-{config.kafka_port}" in names
        assert f"booking-postgres-{config.pg_port}" in names
        # The pids are the servers' own processes, as fault tests freeze and kill them.
        for pid, command in ((platform.kafka.pid, "java"), (platform.postgres.pid, "postgres")):
            assert pid is not None
            assert Path(f"/proc/{pid}/comm").read_text().strip() == command
        client = PlatformClient({s: platform.url(s) for s in SERVICES}, token=platform.token())
        try:
            resource = client.create_resource("Cottage on containers", capacity=1)
            client.create_rate_plan(resource["id"], "100.00", "EUR")
            response = client.book(
                booking_body(resource["id"], date.today() + timedelta(days=30)), wait=20
            )
            assert response.status_code in (200, 201, 202), response.text
            booking = client.wait_terminal(response.json()["id"])
        finally:
            client.close()
        assert booking["status"] == "confirmed", booking
    assert not [
        n for n in _containers() if n.endswith((str(config.kafka_port), str(config.pg_port)))
    ]
