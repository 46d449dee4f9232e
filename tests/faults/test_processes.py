"""Kafka is killed (SIGKILL) while relays have batches in flight, and a booking worker is frozen
(SIGSTOP) past its session timeout, under load. Read back from the topics themselves: every
row of every outbox was delivered, each key's rows first seen in the order they were written;
every effect happened once."""

from __future__ import annotations

import asyncio
import signal
from datetime import date, timedelta
from typing import Any

import pytest

from devstack.client import PlatformClient
from devstack.platform import SERVICES, Platform
from devstack.procs import Proc, free_ports, wait_for
from tests.faults.test_database_outage import dlq_depth, resources
from tests.support import history, invariants
from tests.support.db import fetch
from tests.support.load import Flow, terminal

pytestmark = pytest.mark.fault


async def check_delivery_and_effects(
    platform: Platform, client: PlatformClient, flow: Flow, resource_ids: list[str], before: int
) -> None:
    final = await terminal(platform, client.token or "", flow.ids, timeout=400)
    assert {b["status"] for b in final.values()} == {"confirmed"}
    urls = platform.database_urls
    invariants.bookings_keep_what_they_claim(urls, flow.ids)
    invariants.refunds_add_up(urls, flow.ids)
    invariants.ledger_agrees(urls, resource_ids)
    invariants.events_match_history(urls, flow.ids)
    assert await dlq_depth(platform) == before
    wait_for(
        lambda: all(
            not fetch(urls[s], "SELECT 1 FROM outbox WHERE sent_at IS NULL LIMIT 1")
            for s in SERVICES
        ),
        120,
        "every outbox to drain",
    )
    found = await history.check(platform)
    assert found.lost == [] and found.unapplied == [], found.summary()
    assert found.out_of_order == [] and found.duplicated == [], found.summary()


async def test_kafka_killed_with_batches_in_flight_loses_nothing_and_keeps_every_keys_order(
    faulty: Platform, faulty_client: PlatformClient
) -> None:
    ids = resources(faulty_client, 5)
    before = await dlq_depth(faulty)
    flow = Flow(faulty, faulty_client.token or "", ids, date.today() + timedelta(days=600))
    broker = faulty.kafka
    assert broker is not None, "the fault tests kill the broker they started"

    async def kill_and_restart() -> None:
        await asyncio.sleep(12)
        await asyncio.to_thread(broker.kill)
        await asyncio.sleep(5)
        await asyncio.to_thread(broker.start)

    await asyncio.gather(flow.run(500, rate_per_s=10), kill_and_restart())
    await check_delivery_and_effects(faulty, faulty_client, flow, ids, before)


def second_worker(platform: Platform, service: str) -> Proc:
    """Another replica of ``service``'s worker (its own operations port)."""
    env = {f"{service.upper()}_OPS_PORT": str(free_ports(1)[0])}
    return platform.spawn_process(service, "worker", env, name=f"{service}-worker-2")


async def test_a_booking_worker_frozen_past_its_session_timeout_changes_nothing_twice(
    faulty: Platform, faulty_client: PlatformClient
) -> None:
    """Two booking workers share the replies; one is frozen for 25 s (its session times out
    after 10, its transactions' locks after 30 at most) and then thawed mid-flow: the other one
    took its partitions meanwhile, and the thawed one's stale work is refused or deduplicated."""
    ids = resources(faulty_client, 3)
    before = await dlq_depth(faulty)
    replica = second_worker(faulty, "booking")
    try:
        await asyncio.sleep(8)  # it joins the group
        frozen = faulty.procs[("booking", "worker")]
        flow = Flow(faulty, faulty_client.token or "", ids, date.today() + timedelta(days=800))
        progress: dict[str, Any] = {}

        async def freeze_and_thaw() -> None:
            await asyncio.sleep(5)
            frozen.popen.send_signal(signal.SIGSTOP)
            progress["at_freeze"] = len(flow.ids)
            await asyncio.sleep(25)
            progress["during"] = len(flow.ids) - progress["at_freeze"]
            frozen.popen.send_signal(signal.SIGCONT)

        await asyncio.gather(flow.run(200, rate_per_s=6), freeze_and_thaw())
        await check_delivery_and_effects(faulty, faulty_client, flow, ids, before)
        assert frozen.alive() and replica.alive()
        # Bookings made while it was frozen confirmed too (the replica served its partitions).
        confirmed_during = fetch(
            faulty.database_urls["booking"],
            "SELECT count(*) AS n FROM bookings WHERE id = ANY($1::uuid[]) AND status = "
            "'confirmed'",
            flow.ids,
        )[0]["n"]
        assert confirmed_during == len(flow.ids) and progress["during"] > 0
    finally:
        replica.stop()
