"""A network partition: a second booking worker lives in a network namespace of its own (a
veth pair to this host, ``tests.support.netns``) and then loses Postgres (its packets stop; no
reset, no error) while Kafka still answers. Its calls hang until their timeouts, it sees the
stall, gives its partitions up, and the worker on this host takes them over: every booking made
meanwhile confirms within a bounded time, nothing is lost or done twice."""

from __future__ import annotations

import shutil
import time
import uuid
from datetime import date, timedelta

import pytest

from devstack.client import PlatformClient, booking_body
from devstack.platform import Platform
from devstack.procs import free_ports
from tests.support import invariants
from tests.support.netns import Namespace

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2 (ip netns)"),
]

HANDOFF_S = 10


def test_a_worker_cut_off_from_postgres_hands_its_partitions_to_one_that_is_not(
    platform: Platform, client: PlatformClient
) -> None:
    config = platform.config
    ports = [config.pg_port, config.kafka_port]
    resource = client.create_resource(f"Partition {uuid.uuid4().hex[:6]}", capacity=1)
    client.create_rate_plan(resource["id"], "85.00", "EUR")
    start = date.today() + timedelta(days=720)
    with Namespace(ports) as ns:
        cut_off = platform.spawn_process(
            "booking",
            "worker",
            {
                "BOOKING_OPS_PORT": str(free_ports(1)[0]),
                "BOOKING_CONSUMER_HANDOFF_AFTER_S": str(HANDOFF_S),
                # Fail a hung call sooner than the default 40 s (the point is the hand-off).
                "BOOKING_DB_COMMAND_TIMEOUT_S": "5",
                "OTEL_SDK_DISABLED": "true",
            },
            wrapper=ns.wrapper(),
            name="booking-worker-cut-off",  # a replica beside the suite's
        )
        try:
            time.sleep(12)  # it starts, joins the group and takes some reply partitions
            assert cut_off.alive(), cut_off.tail()
            ns.cut(config.pg_port)
            cut_at = time.monotonic()
            ids = [
                client.book(
                    booking_body(resource["id"], start + timedelta(days=i), nights=1, n=i),
                    key=str(uuid.uuid4()),
                ).json()["id"]
                for i in range(12)
            ]
            finals = [client.wait_terminal(b, timeout=120)["status"] for b in ids]
            took = time.monotonic() - cut_at
            assert finals == ["confirmed"] * len(ids), finals
            # The hand-off, the group's rebalance and the sagas themselves, well within this.
            assert took < 90, took
            deadline = time.monotonic() + 30
            while cut_off.alive() and time.monotonic() < deadline:
                time.sleep(0.5)
            assert not cut_off.alive(), "the cut-off worker kept its partitions"
            assert "gives up its partitions" in cut_off.tail(200)
        finally:
            ns.heal(config.pg_port)
            cut_off.stop(timeout=10)
    urls = platform.database_urls
    invariants.bookings_keep_what_they_claim(urls, ids)
    invariants.events_match_history(urls, ids)
    invariants.ledger_agrees(urls, [resource["id"]])
