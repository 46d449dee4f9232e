"""Session fixtures: the whole platform as real processes on free loopback ports.

Real Postgres (embedded) and a real Kafka broker (KRaft, Maven Central jars) are started once
per test session; ``KAFKA_BOOTSTRAP_SERVERS`` points the suite at an external cluster instead.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.client import PlatformClient
from devstack.platform import SERVICES, Platform, PlatformConfig
from tests.support.otlp import Collector, start_collector


@pytest.fixture(scope="session")
def collector() -> Iterator[Collector]:
    """Where every service of the session's platform sends its spans (OTLP over HTTP)."""
    c = start_collector()
    yield c
    c.close()


@pytest.fixture(scope="session")
def platform(collector: Collector) -> Iterator[Platform]:
    # Not under /tmp/pytest-of-root (0700): the embedded Postgres runs as an unprivileged user.
    workdir = Path(tempfile.mkdtemp(prefix="booking-tests-", dir="/var/tmp"))
    workdir.chmod(0o755)
    failpoints = workdir / "failpoints"  # armed by the fault tests (messaging.failpoints)
    failpoints.mkdir()
    config = PlatformConfig.ephemeral(
        workdir,
        service_env={
            "FAILPOINTS_DIR": str(failpoints),
            "BOOKING_STEP_TIMEOUT_S": "15",
            # A step with no reply fails after 45 s (three step timeouts), lagging or not.
            "BOOKING_STEP_DEADLINE_S": "45",
            # Unpaid bank transfers expire fast enough to test expiry and late payments.
            "BOOKING_PAYMENT_DEADLINE_S": "8",
            "BOOKING_WAITLIST_OFFER_S": "12",
            "PAYMENT_EXPIRY_INTERVAL_S": "0.5",
            # Webhook and email retries in seconds, not hours (about 15 s in all).
            "NOTIFIER_RETRY_SCHEDULE_S": "1,1,1,2,2,2,3,3",
            "NOTIFIER_DISPATCH_INTERVAL_S": "0.2",
            # Spans leave each process within a fifth of a second.
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        },
    )
    p = Platform(config)
    try:
        p.start()
        yield p
    finally:
        p.stop()
        if os.environ.get("KEEP_TEST_LOGS") is None:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def client(platform: Platform) -> Iterator[PlatformClient]:
    c = PlatformClient({s: platform.url(s) for s in SERVICES}, token=platform.token(), timeout=30.0)
    yield c
    c.close()
