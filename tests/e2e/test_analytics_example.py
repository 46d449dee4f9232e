"""The example downstream consumer (examples/analytics) against the live platform: it reads
booking.events from the beginning with nothing but ``contracts``, counts each event once
(a duplicate republished byte for byte changes nothing), and a replay or a rebuild from the
beginning gives the same figures."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest

from contracts.topics import BOOKING_EVENTS
from devstack.client import PlatformClient, booking_body
from devstack.kafka import REPO_ROOT
from devstack.platform import ANALYTICS_PRINCIPAL, SERVICES, Platform
from devstack.procs import Proc, spawn
from tests.e2e.test_booking_lifecycle import until
from tests.support.db import fetch
from tests.support.kafka import caught_up, records_of, republish, wait_consumed

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def analytics_env(platform: Platform) -> dict[str, str]:
    return {
        **os.environ,
        "ANALYTICS_DATABASE_URL": platform.create_database(f"analytics_{uuid.uuid4().hex[:6]}"),
        "KAFKA_BOOTSTRAP_SERVERS": platform.bootstrap,
        # Its own principal: it may read booking.events with groups booking-analytics*.
        **platform.kafka_env(ANALYTICS_PRINCIPAL),
        "ANALYTICS_GROUP": f"booking-analytics-test-{uuid.uuid4().hex[:6]}",
        "ANALYTICS_DATADIR": str(platform.config.workdir),
        "PYTHONUNBUFFERED": "1",
    }


def start(platform: Platform, env: dict[str, str]) -> Proc:
    return spawn(
        "analytics",
        [sys.executable, "-m", "analytics", "worker"],
        log_path=platform.config.workdir / "logs" / f"analytics-{uuid.uuid4().hex[:6]}.log",
        env=env,
        cwd=REPO_ROOT,
    )


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "analytics", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def figures(env: dict[str, str], resource_id: str) -> tuple[int, int, int, Decimal, Decimal, int]:
    url = env["ANALYTICS_DATABASE_URL"]
    counts = fetch(
        url,
        "SELECT coalesce(sum(created), 0), coalesce(sum(confirmed), 0), "
        "coalesce(sum(cancelled), 0) FROM resource_days WHERE resource_id = $1",
        resource_id,
    )[0]
    money = fetch(
        url,
        "SELECT coalesce(sum(revenue), 0), coalesce(sum(refunded), 0) FROM resource_day_revenue "
        "WHERE resource_id = $1 AND currency = 'EUR'",
        resource_id,
    )[0]
    converted = fetch(
        url, "SELECT count(*) FROM bookings WHERE resource_id = $1 AND confirmed", resource_id
    )[0][0]
    return (*counts, *money, converted)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def story(platform: Platform) -> Iterator[dict[str, str]]:
    """Three bookings of one resource: confirmed; confirmed, cancelled and refunded; declined."""
    token = platform.token(tenant=f"a-{uuid.uuid4().hex[:8]}")
    c = PlatformClient({s: platform.url(s) for s in SERVICES}, token=token, timeout=30.0)
    resource = c.create_resource(f"Quinta {uuid.uuid4().hex[:6]}", capacity=3)
    c.create_rate_plan(resource["id"], "100.00", "EUR")
    start_day = date.today() + timedelta(days=150)
    kept = c.book(booking_body(resource["id"], start_day), wait=20).json()
    gone = c.book(booking_body(resource["id"], start_day), wait=20).json()
    declined = c.book(
        booking_body(resource["id"], start_day, pm="pm_card_declined"), wait=20
    ).json()
    assert (kept["status"], gone["status"], declined["status"]) == (
        "confirmed",
        "confirmed",
        "rejected",
    )
    r = c.http.post(f"{c.urls['booking']}/api/v1/bookings/{gone['id']}/cancel", json={})
    assert r.status_code == 200
    until(lambda: c.booking(gone["id"])["status"] == "refunded")
    c.close()
    yield {"resource": resource["id"], "gone": gone["id"]}


def figures_after_catching_up(
    platform: Platform, env: dict[str, str], resource_id: str
) -> tuple[int, int, int, Decimal, Decimal, int]:
    """Run a worker until its group has read the whole topic; the figures then."""
    worker = start(platform, env)
    try:
        assert asyncio.run(
            caught_up(platform.bootstrap, env["ANALYTICS_GROUP"], BOOKING_EVENTS, 120)
        )
        return figures(env, resource_id)
    finally:
        worker.stop()


EXPECTED = (3, 2, 1, Decimal("440.00"), Decimal("220.00"), 2)  # 2 nights at 100 + 10 % tax


def test_the_example_consumer_counts_each_event_once_and_replays_to_the_same_figures(
    platform: Platform, analytics_env: dict[str, str], story: dict[str, str]
) -> None:
    env, resource = analytics_env, story["resource"]
    cli(env, "report")  # creates the tables, before the worker runs
    worker = start(platform, env)
    try:
        assert until(lambda: figures(env, resource) == EXPECTED, timeout=90), figures(env, resource)
        report = json.loads(cli(env, "report", "--resource", resource))
        day = report["days"][0]
        assert day["money"]["EUR"]["net"].startswith("220.00") and day["conversion"] == 0.6667

        # The platform publishes at least once: the same record again is the same event.
        records = asyncio.run(records_of(platform.bootstrap, BOOKING_EVENTS, story["gone"], 4))
        confirmed = next(
            r for r in records if dict(r.headers)["ce_type"] == b"booking.confirmed.v1"
        )
        offset = asyncio.run(republish(platform.bootstrap, confirmed))
        assert asyncio.run(
            wait_consumed(
                platform.bootstrap,
                env["ANALYTICS_GROUP"],
                BOOKING_EVENTS.name,
                confirmed.partition,
                offset,
            )
        )
        assert figures(env, resource) == EXPECTED
    finally:
        worker.stop()

    # Replay from the beginning: every event is read again and recognised.
    cli(env, "replay", "--from-beginning")
    assert figures_after_catching_up(platform, env, resource) == EXPECTED

    # Rebuild: forget everything and compute it again from the topic.
    cli(env, "rebuild")
    assert figures(env, resource) == (0, 0, 0, Decimal(0), Decimal(0), 0)
    assert figures_after_catching_up(platform, env, resource) == EXPECTED
