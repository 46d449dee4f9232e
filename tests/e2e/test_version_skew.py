"""A rolling upgrade, frozen half way: build N and build N+1 of the booking and inventory
workers share their consumer groups (each gets some partitions), and bookings come through the
web of either build. Build N+1 (``tests/support/build_n1``) sends ``ReserveCapacity`` with a new
optional field and answers ``CapacityReserved`` with one; a new event type appears on the event
topics. Build N applies all of it: nothing is dead-lettered, every booking confirms, every guest
gets the confirmation email."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import date, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.topics import ALL_TOPICS, BOOKING_EVENTS, INVENTORY_COMMANDS, INVENTORY_EVENTS
from devstack.client import PlatformClient, booking_body
from devstack.kafka import REPO_ROOT
from devstack.platform import SERVICES, Platform
from devstack.procs import Proc, free_ports, port_open, wait_for
from messaging import admin
from tests.support.db import fetch
from tests.support.kafka import envelope, records_of

pytestmark = pytest.mark.e2e

BUILD_N1 = REPO_ROOT / "tests" / "support" / "build_n1"


def start_n1(platform: Platform, service: str, role: str, port: int) -> Proc:
    prefix = service.upper()
    key = f"{prefix}_HTTP_PORT" if role == "web" else f"{prefix}_OPS_PORT"
    path = platform.env_for(service).get("PYTHONPATH", "")
    env = {key: str(port), "PYTHONPATH": f"{BUILD_N1}:{path}"}
    return platform.spawn_process(service, role, env, name=f"{service}-{role}-n1")


async def dlq_depth(platform: Platform) -> int:
    dlqs = [t.name for t in ALL_TOPICS if t.name.endswith(".dlq")]
    return sum(info.messages for info in await admin.topics(platform.bootstrap, dlqs))


async def a_new_event_type(platform: Platform) -> None:
    """What a newer producer may start to publish: a type no consumer of build N knows."""
    producer = AIOKafkaProducer(**platform.kafka_kwargs(), acks="all")
    await producer.start()
    try:
        for topic, ce_type in (
            (INVENTORY_EVENTS, "inventory.capacity_rebalanced.v1"),
            (BOOKING_EVENTS, "booking.loyalty_points_awarded.v1"),
        ):
            key = f"skew-{uuid.uuid4()}"
            env = envelope(
                ce_type,
                json.dumps({"booking_id": key, "points": 10}).encode(),
                key,
                source="/booking-platform/future",
            )
            await producer.send_and_wait(
                topic.name, env.data, key=key.encode(), headers=env.headers()
            )
    finally:
        await producer.stop()


async def test_build_n_and_n_plus_1_share_the_topics_with_nothing_dead_lettered(
    platform: Platform, client: PlatformClient
) -> None:
    before = await dlq_depth(platform)
    web_port, *ops = free_ports(3)
    newer = [
        start_n1(platform, "booking", "web", web_port),
        start_n1(platform, "booking", "worker", ops[0]),
        start_n1(platform, "inventory", "worker", ops[1]),
    ]
    try:
        for proc in newer:
            port = web_port if proc.name.endswith("web-n1") else ops[newer.index(proc) - 1]
            wait_for(lambda port=port: port_open(port), 60, f"{proc.name} to listen", proc=proc)
        await asyncio.sleep(8)  # the new workers join their groups and get partitions
        n1 = PlatformClient(
            {**{s: platform.url(s) for s in SERVICES}, "booking": f"http://127.0.0.1:{web_port}"},
            token=client.token,
            timeout=30.0,
        )
        resource = client.create_resource(f"Skew {uuid.uuid4().hex[:6]}", capacity=1)
        client.create_rate_plan(resource["id"], "90.00", "EUR")
        start = date.today() + timedelta(days=700)
        ids = []
        for i in range(16):
            via = n1 if i % 2 else client  # half through each build's web
            body = booking_body(resource["id"], start + timedelta(days=i), nights=1, n=i)
            ids.append(via.book(body, key=str(uuid.uuid4())).json()["id"])
        await a_new_event_type(platform)
        finals = [client.wait_terminal(b, timeout=90)["status"] for b in ids]
        assert finals == ["confirmed"] * len(ids)
        # The newer build really spoke its newer contracts, and build N applied them.
        newer_commands = [
            r
            for b in ids[1::2]
            for r in await records_of(platform.bootstrap, INVENTORY_COMMANDS, b, want=2)
            if dict(r.headers)["ce_type"] == b"inventory.ReserveCapacity.v1"
        ]
        assert newer_commands and all(b'"priority"' in r.value for r in newer_commands), [
            (dict(r.headers).get("ce_type"), r.value[:120]) for r in newer_commands
        ]
        assert await dlq_depth(platform) == before, "a build dead-lettered the other's messages"
        notifier = platform.database_urls["notifier"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            emails = fetch(
                notifier,
                "SELECT DISTINCT booking_id FROM notifications WHERE channel = 'email' AND "
                "event_type LIKE 'booking.confirmed%' AND booking_id = ANY($1::text[])",
                ids,
            )
            if len(emails) == len(ids):
                break
            await asyncio.sleep(0.5)
        assert len(emails) == len(ids), "a confirmation email is missing"
        n1.close()
    finally:
        for proc in newer:
            proc.stop()
    # Build N alone again (the rollout rolled back): it still serves.
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{platform.ops_url('booking')}/readyz")).status_code == 200
