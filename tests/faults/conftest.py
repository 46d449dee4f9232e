"""A platform of its own for the tests that break infrastructure (its Postgres is stopped,
databases refuse connections, Kafka is killed): the session's platform stays untouched.
Postgres runs with fsync on, as in production."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.client import PlatformClient
from devstack.platform import SERVICES, Platform, PlatformConfig


@pytest.fixture(scope="module")
def faulty() -> Iterator[Platform]:
    workdir = Path(tempfile.mkdtemp(prefix="booking-faults-", dir="/var/tmp"))
    workdir.chmod(0o755)
    (workdir / "failpoints").mkdir()
    config = PlatformConfig.ephemeral(
        workdir,
        pg_fsync=True,
        service_env={
            "FAILPOINTS_DIR": str(workdir / "failpoints"),
            "BOOKING_STEP_TIMEOUT_S": "10",
            # Longer than any outage here: a step waits for its participant, never fails of it.
            "BOOKING_STEP_DEADLINE_S": "180",
            "PAYMENT_EXPIRY_INTERVAL_S": "0.5",
            "NOTIFIER_RETRY_SCHEDULE_S": "1,1,2,2,3,3,5,5,5,5",
            "NOTIFIER_DISPATCH_INTERVAL_S": "0.2",
        },
    )
    platform = Platform(config)
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()
        if os.environ.get("KEEP_TEST_LOGS") is None:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def faulty_client(faulty: Platform) -> Iterator[PlatformClient]:
    c = PlatformClient({s: faulty.url(s) for s in SERVICES}, token=faulty.token(), timeout=60.0)
    yield c
    c.close()
