"""A poison message is dead-lettered with its provenance and the partition keeps moving."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.common import StayPeriod
from contracts.inventory import ReleaseCapacity, ReserveCapacity
from contracts.topics import (
    BOOKING_EVENTS,
    BOOKING_SAGA_REPLIES,
    INVENTORY_COMMANDS,
    PAYMENT_EVENTS,
    TopicSpec,
)
from devstack.client import PlatformClient
from devstack.platform import Platform
from messaging import tracing
from tests.support.db import scalar
from tests.support.kafka import envelope, envelope_of, publish, records_of

pytestmark = pytest.mark.e2e


async def read_dlq(
    platform: Platform,
    key: bytes,
    want: int,
    timeout: float = 60.0,
    topic: TopicSpec = INVENTORY_COMMANDS,
) -> list:
    """The records of ``key`` in ``topic``'s DLQ, once ``want`` are there or ``timeout``."""
    consumer = AIOKafkaConsumer(**platform.kafka_kwargs(), enable_auto_commit=False)
    await consumer.start()
    try:
        dlq = topic.dlq
        tps = [TopicPartition(dlq.name, p) for p in range(dlq.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: list = []
        deadline = time.monotonic() + timeout
        while len(found) < want and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(r for r in records if r.key == key)
        return found
    finally:
        await consumer.stop()


async def test_poison_messages_go_to_the_dlq_and_the_next_message_is_processed(
    platform: Platform, client: PlatformClient
) -> None:
    resource = client.create_resource(f"Loft {uuid.uuid4().hex[:6]}", capacity=1)
    booking_id = f"dlq-{uuid.uuid4()}"
    key = booking_id.encode()
    valid = ReserveCapacity(
        booking_id=booking_id,
        step="reserve_capacity",
        resource_id=resource["id"],
        period=StayPeriod(
            check_in=date.today() + timedelta(days=400),
            check_out=date.today() + timedelta(days=401),
        ),
    )
    good_env = envelope_of(valid, booking_id, traceparent=tracing.new_traceparent())
    bad_schema = envelope(valid.ce_type(), b'{"booking_id": 42}', booking_id)
    producer = AIOKafkaProducer(**platform.kafka_kwargs(), acks="all")
    await producer.start()
    try:
        garbage = await producer.send_and_wait(
            INVENTORY_COMMANDS.name, b"\x00not a cloudevent", key=key, headers=[("x", b"y")]
        )
        schema = await producer.send_and_wait(
            INVENTORY_COMMANDS.name, bad_schema.data, key=key, headers=bad_schema.headers()
        )
        good = await producer.send_and_wait(
            INVENTORY_COMMANDS.name, good_env.data, key=key, headers=good_env.headers()
        )
    finally:
        await producer.stop()
    assert garbage.partition == schema.partition == good.partition

    dead = await read_dlq(platform, key, want=2)
    assert len(dead) == 2
    by_offset = {int(dict(r.headers)["dlq_original_offset"]): r for r in dead}
    assert set(by_offset) == {garbage.offset, schema.offset}
    first = dict(by_offset[garbage.offset].headers)
    assert first["dlq_original_topic"] == INVENTORY_COMMANDS.name.encode()
    assert int(first["dlq_original_partition"]) == garbage.partition
    assert b"missing CloudEvents attributes" in first["dlq_error"]
    assert first["dlq_consumer"] == b"inventory-worker"
    assert first["x"] == b"y", "original headers are kept"
    assert by_offset[garbage.offset].value == b"\x00not a cloudevent"
    assert b"does not match its schema" in dict(by_offset[schema.offset].headers)["dlq_error"]

    # The partition moved on: the valid command after the poison was applied.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (
            scalar(
                platform.database_urls["inventory"],
                "SELECT count(*) FROM reservations WHERE booking_id = $1",
                booking_id,
            )
            == 1
        ):
            break
        await asyncio.sleep(0.2)
    assert (
        scalar(
            platform.database_urls["inventory"],
            "SELECT status FROM reservations WHERE booking_id = $1",
            booking_id,
        )
        == "held"
    )


@pytest.mark.parametrize(
    ("topic", "ce_type"),
    [
        (BOOKING_SAGA_REPLIES, "inventory.CapacityReserved.v1"),
        (BOOKING_EVENTS, "booking.confirmed.v1"),
        (PAYMENT_EVENTS, "payment.late_payment_received.v1"),
    ],
)
async def test_poison_on_the_reply_and_event_topics_is_dead_lettered_and_nothing_stalls(
    platform: Platform, client: PlatformClient, topic, ce_type: str
) -> None:
    """A record that is no CloudEvent and one that breaks its type's schema, on each topic the
    booking saga and the notifier read: both dead-lettered with their error class, and a
    booking made afterwards confirms (its replies and events flow through the same topics)."""
    key = f"poison-{uuid.uuid4()}".encode()
    bad = envelope(ce_type, b'{"booking_id": 42}', key.decode())
    await publish(
        platform,
        topic.name,
        [(key, b"\xffnot json", [("x", b"y")]), (key, bad.data, bad.headers())],
    )
    consumer = AIOKafkaConsumer(**platform.kafka_kwargs(), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic.dlq.name, p) for p in range(topic.dlq.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        dead: list = []
        deadline = time.monotonic() + 60
        # booking.events is read by the notifier and the analytics example alike: at least one
        # consumer dead-letters each record.
        while (
            time.monotonic() < deadline
            and len({int(dict(r.headers)["dlq_original_offset"]) for r in dead}) < 2
        ):
            for records in (await consumer.getmany(timeout_ms=200)).values():
                dead.extend(r for r in records if r.key == key)
    finally:
        await consumer.stop()
    classes = {dict(r.headers)["dlq_error_class"] for r in dead}
    assert classes == {b"InvalidEnvelope"}, classes
    for r in dead:
        assert b"guest" not in dict(r.headers)["dlq_error"].lower()
    resource = client.create_resource(f"After poison {uuid.uuid4().hex[:6]}", capacity=1)
    client.create_rate_plan(resource["id"], "70.00", "EUR")
    day = date.today() + timedelta(days=450)
    from devstack.client import booking_body

    booking = client.book(booking_body(resource["id"], day, nights=1), key=str(uuid.uuid4()))
    assert client.wait_terminal(booking.json()["id"], timeout=60)["status"] == "confirmed"


async def test_a_message_that_kills_every_worker_is_dead_lettered_after_three_crashes(
    platform: Platform,
) -> None:
    """A handler that ends its process on one message (a failpoint standing in for a segfault
    or an out-of-memory kill): each restarted worker gets it again, until the fourth sees three
    processes died on it and dead-letters it; the next message of the partition is applied."""
    from pathlib import Path

    from messaging import failpoints

    booking_id = f"crash-{uuid.uuid4()}"
    message_id = str(uuid.uuid4())
    armed = Path(platform.config.service_env["FAILPOINTS_DIR"]) / failpoints.HANDLER_CRASH
    armed.write_text(f"exit sticky match=inventory-worker:{message_id}")
    command = ReleaseCapacity(booking_id=booking_id, step="release_capacity")
    env = envelope_of(command, booking_id, message_id=message_id)
    after = ReleaseCapacity(booking_id=booking_id, step="release_capacity#2")
    env_after = envelope_of(after, booking_id)
    key = booking_id.encode()
    try:
        await publish(
            platform,
            INVENTORY_COMMANDS.name,
            [(key, env.data, env.headers()), (key, env_after.data, env_after.headers())],
        )
        crashes = 0
        deadline = time.monotonic() + 180
        found: list = []
        while time.monotonic() < deadline and not found:
            proc = platform.procs[("inventory", "worker")]
            if not proc.alive():
                assert proc.popen.returncode == 137
                crashes += 1
                platform.start_service("inventory", "worker")
            found = await read_dlq(platform, key, want=1, timeout=1.0)
    finally:
        armed.unlink(missing_ok=True)
    if not platform.procs[("inventory", "worker")].alive():
        platform.start_service("inventory", "worker")
    platform.wait_ready()
    assert crashes == 3
    assert len(found) == 1
    headers = dict(found[0].headers)
    assert headers["dlq_error_class"] == b"PoisonMessage"
    assert headers["ce_id"] == message_id.encode()
    # The partition moved on: the message after it was applied (a release of nothing replies).
    replies = await records_of(
        platform.bootstrap, BOOKING_SAGA_REPLIES, booking_id, want=1, timeout=60
    )
    assert [dict(r.headers)["ce_type"] for r in replies] == [b"inventory.CapacityReleased.v1"]


async def test_a_guests_data_stays_out_of_dlq_headers_and_logs(platform: Platform) -> None:
    """A waitlist offer whose guest fields break the schema (the validation error would repeat
    them) is dead-lettered with its error class and a short description: no header of the DLQ
    record, and no log line of any process, carries the guest's email or phone. (The record's
    value in the DLQ is the original record, unchanged, for replay.)"""
    email, phone = f"ana.{uuid.uuid4().hex[:8]}@example.org", "+351 934 567 812"
    key = f"pii-{uuid.uuid4()}".encode()
    bad = envelope(
        "booking.waitlist_offered.v1",
        (
            '{"entry_id": "e", "tenant_id": "t", "resource_id": "r", "hold_id": "h", '
            '"guest_id": "g", "occurred_at": "2026-01-01T00:00:00Z", '
            f'"expires_at": "2026-01-01T00:10:00Z", "contact_email": ["{email}"], '
            f'"contact_name": {{"phone": "{phone}"}}}}'
        ).encode(),
        key.decode(),
    )
    await publish(platform, BOOKING_EVENTS.name, [(key, bad.data, bad.headers())])
    dead = await read_dlq(platform, key, want=1, topic=BOOKING_EVENTS)
    assert dead, "the offer was not dead-lettered"
    for record in dead:
        headers = dict(record.headers)
        assert headers["dlq_error_class"] == b"InvalidEnvelope"
        assert b"contact_email" in headers["dlq_error"], headers["dlq_error"]
        for name, value in record.headers:
            assert email.encode() not in value and b"934 567" not in value, name
    await asyncio.sleep(1)  # the logs are flushed line by line
    for log in (platform.config.workdir / "logs").glob("*.log"):
        text = log.read_text(errors="replace")
        assert email not in text and "934 567" not in text, log.name


async def test_a_webhook_secret_stays_out_of_logs_dlq_and_the_database(platform: Platform) -> None:
    """A tenant's webhook endpoint answers 500, then its secret is rotated and the endpoint
    disabled, while bookings of that tenant flow: neither the signing secret nor the rotated one
    appears in any log line, any dead-letter record or header, or any column of the notifier's
    database (sealed at rest); a delivery that did fail is visible by its status alone."""
    from tests.support.receiver import start_receiver

    receiver = start_receiver()
    receiver.scripts["/failing"] = lambda path, seen: (500, {})
    tenant = f"sec-{uuid.uuid4().hex[:6]}"
    c = PlatformClient(
        {s: platform.url(s) for s in ("booking", "inventory", "pricing", "payment", "notifier")},
        token=platform.token(tenant=tenant, roles=("admin",)),
        timeout=30.0,
    )
    hooks = f"{platform.url('notifier')}/api/v1/webhook-endpoints"
    try:
        made = c.http.post(hooks, json={"url": f"{receiver.base_url}/failing"})
        assert made.status_code == 201, made.text
        endpoint = made.json()
        secrets = [endpoint["secret"]]
        resource = c.create_resource("Secret keeper", 2)
        c.create_rate_plan(resource["id"], "90.00")
        from devstack.client import booking_body

        start = date.today() + timedelta(days=300)
        booked = c.book(booking_body(resource["id"], start), wait=20).json()
        assert booked["status"] == "confirmed", booked
        deadline = time.monotonic() + 60
        while len(receiver.at("/failing")) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert len(receiver.at("/failing")) >= 2, "the failing endpoint was not retried"
        rotated = c.http.post(f"{hooks}/{endpoint['id']}/rotate-secret")
        assert rotated.status_code == 200, rotated.text
        secrets.append(rotated.json()["secret"])
        assert c.http.post(f"{hooks}/{endpoint['id']}/disable").status_code == 200
    finally:
        c.close()
        receiver.close()
    await asyncio.sleep(1)  # the logs are flushed line by line
    for log in (platform.config.workdir / "logs").glob("*.log"):
        text = log.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, log.name
    dump = await _notifier_rows(platform)
    for secret in secrets:
        assert secret not in dump, "a webhook secret is stored in clear"
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **platform.kafka_kwargs())
    await consumer.start()
    try:
        dlqs = [t.dlq.name for t in (BOOKING_EVENTS, BOOKING_SAGA_REPLIES)]
        partitions = [TopicPartition(t, p) for t in dlqs for p in range(6)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        batch = await consumer.getmany(timeout_ms=3000)
        for records in batch.values():
            for r in records:
                blob = (r.value or b"") + b"".join(v for _, v in r.headers)
                assert not any(s.encode() in blob for s in secrets), r.topic
    finally:
        await consumer.stop()


async def _notifier_rows(platform: Platform) -> str:
    """Every row of every table of the notifier's database, as text."""
    import asyncpg

    from service_kit.db import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(platform.database_urls["notifier"]))
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        ]
        rows = [str(await conn.fetch(f'SELECT * FROM "{t}"')) for t in tables]
        return "\n".join(rows)
    finally:
        await conn.close()
