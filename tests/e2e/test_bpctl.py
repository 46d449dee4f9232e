"""bpctl against the running platform: every command does what it says, refuses what would do
harm, and can be run again safely."""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from bpctl.cli import app
from typer.testing import CliRunner

from contracts.topics import ALL_TOPICS, BOOKING_EVENTS
from devstack.client import PlatformClient, booking_body
from devstack.platform import SERVICES, Platform
from messaging import admin
from tests.support.kafka import records_of

runner = CliRunner()
Run = Callable[..., str]  # bpctl(*args, code=0) -> its output


@pytest.fixture(scope="module")
def bpctl(platform: Platform) -> Iterator[Run]:
    if not (platform.config.workdir / "state.json").exists():
        platform.write_state()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["--platform-dir", str(platform.config.workdir), *args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code == code, result.output
        return result.output

    yield run


def test_status_shows_every_process_ready(bpctl: Run) -> None:
    out = bpctl("status")
    for service in SERVICES:
        for role in ("web", "worker"):
            assert f"{service}-{role}" in out
    assert out.count("ready") >= 2 * len(SERVICES) and "not ready" not in out


def test_a_minted_token_is_accepted(bpctl: Run, platform: Platform) -> None:
    token = bpctl("token", "--tenant", "bpctl-t", "--role", "staff").strip()
    response = httpx.get(
        f"{platform.url('booking')}/api/v1/bookings", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert bpctl("token", "--role", "root", code=1)


def test_migrate_and_topics_create_are_idempotent(bpctl: Run) -> None:
    assert "at head: booking, inventory" in bpctl("migrate")
    assert f"created 0: none; {len(ALL_TOPICS)} existed" in bpctl("topics", "create")


def test_topics_describe_matches_the_declarations(bpctl: Run) -> None:
    out = bpctl("topics", "describe")
    for topic in ALL_TOPICS:
        assert topic.name in out
    assert "missing" not in out


def test_seed_makes_bookings_and_saga_show_follows_one_across_services(
    bpctl: Run, platform: Platform, client: PlatformClient
) -> None:
    out = bpctl("seed", "--resources", "2", "--bookings", "2", "--tenant", "seeded")
    assert "seeded 2 resources and 4 bookings" in out
    resource = client.create_resource(f"bpctl {uuid.uuid4().hex[:6]}", capacity=2)
    client.create_rate_plan(resource["id"], "80.00", "EUR")
    day = datetime.now(UTC).date() + timedelta(days=50)
    booking = client.book(booking_body(resource["id"], day), key=str(uuid.uuid4())).json()
    final = client.wait_terminal(booking["id"])
    assert final["status"] == "confirmed"
    shown = json.loads(bpctl("saga", "show", booking["id"], "--json"))
    steps = shown["steps"]
    assert shown["booking"]["status"] == "confirmed"
    by = {(s["service"], s["what"]) for s in steps}
    # Commands written by booking and applied by each participant; replies back; the event out.
    for participant in ("inventory", "pricing", "payment"):
        assert (participant, "applied") in by and (participant, "wrote") in by
    details = " ".join(s["detail"] for s in steps)
    assert "booking.confirmed" in details and "pending -> confirmed" in details
    assert [s["at"] for s in steps] == sorted(s["at"] for s in steps)
    assert final["reference"] in bpctl("saga", "show", final["reference"])
    assert "no booking" in bpctl("saga", "show", "BK-NOPE", code=1)


def test_outbox_status_and_lag_report_every_service(bpctl: Run) -> None:
    out = bpctl("outbox", "status", "--max-age", "600")
    for service in SERVICES:
        assert service in out
    lag = bpctl("topics", "lag")
    for group in ("booking-worker", "inventory-worker", "notifier-worker"):
        assert group in lag


def _dead_letter(ce_id: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", ce_id.encode()),
        ("ce_source", b"/bpctl/tests"),
        ("ce_type", b"bpctl.test.v1"),
        ("content-type", b"application/json"),
        ("dlq_error", b"PermanentError: made up for the test"),
        ("dlq_original_topic", BOOKING_EVENTS.name.encode()),
        ("dlq_consumer", b"notifier-worker"),
        ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
    ]
    return ce_id.encode(), b'{"test": true}', headers


def test_dead_letters_are_listed_and_redriven_once(bpctl: Run, platform: Platform) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]

    async def publish() -> None:
        producer = AIOKafkaProducer(**platform.kafka_kwargs())
        await producer.start()
        try:
            for ce_id in ids:
                key, value, headers = _dead_letter(ce_id)
                await producer.send_and_wait(
                    BOOKING_EVENTS.dlq.name, value=value, key=key, headers=headers
                )
        finally:
            await producer.stop()

    asyncio.run(publish())
    listed = json.loads(bpctl("dlq", "list", BOOKING_EVENTS.name, "--json"))
    mine = {d["ce_id"]: d for d in listed if d["ce_id"] in ids}
    assert set(mine) == set(ids)
    assert all(not d["redriven"] and d["error"].startswith("PermanentError") for d in mine.values())
    assert "would be redriven" in bpctl("dlq", "redrive", BOOKING_EVENTS.name)  # only counts
    assert "redrove" in bpctl("dlq", "redrive", BOOKING_EVENTS.name, "--yes")
    again = json.loads(bpctl("dlq", "list", BOOKING_EVENTS.name, "--json"))
    assert all(d["redriven"] for d in again if d["ce_id"] in ids)
    assert "redrove 0 dead letters" in bpctl("dlq", "redrive", BOOKING_EVENTS.name, "--yes")
    back = []
    for ce_id in ids:
        found = asyncio.run(
            records_of(platform.bootstrap, BOOKING_EVENTS, ce_id, want=2, timeout=5)
        )
        assert len(found) == 1  # redriven once, not twice
        back.append(found[0])
    for record in back:
        names = [k for k, _ in record.headers]
        assert "ce_id" in names and not any(n.startswith("dlq_") for n in names)


def test_replay_rewinds_a_stopped_group_and_refuses_a_running_one(
    bpctl: Run, platform: Platform
) -> None:
    group = f"bpctl-replay-{uuid.uuid4().hex[:6]}"

    async def consume_to_end(stay: bool = False) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            BOOKING_EVENTS.name,
            **platform.kafka_kwargs(),
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        while await consumer.getmany(timeout_ms=1500):
            pass
        await consumer.commit()
        if not stay:
            await consumer.stop()
        return consumer

    asyncio.run(consume_to_end())
    before = {r.partition: r for r in asyncio.run(admin.lag(platform.bootstrap, [group]))}
    assert before and all(r.lag == 0 for r in before.values())
    plan = bpctl("replay", group)
    assert "plan only" in plan
    assert all(r.lag == 0 for r in asyncio.run(admin.lag(platform.bootstrap, [group])))
    bpctl("replay", group, "--yes")
    rewound = asyncio.run(admin.lag(platform.bootstrap, [group]))
    assert sum(r.lag for r in rewound) == sum(r.end for r in rewound) > 0  # from the start
    bpctl(
        "replay",
        group,
        "--from-time",
        (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "--yes",
    )
    assert all(r.lag == 0 for r in asyncio.run(admin.lag(platform.bootstrap, [group])))
    assert "needs a timezone" in bpctl(
        "replay", group, "--from-time", "2026-01-01T00:00:00", code=1
    )

    async def refused() -> str:
        consumer = await consume_to_end(stay=True)
        try:
            return await asyncio.to_thread(bpctl, "replay", group, "--yes", code=1)
        finally:
            await consumer.stop()

    assert "running member" in asyncio.run(refused())


def test_start_status_and_stop_a_second_platform() -> None:
    """bpctl start runs a platform in the background (free ports here, beside the suite's),
    status sees every process ready, stop leaves nothing running."""
    workdir = Path(tempfile.mkdtemp(prefix="bpctl-", dir="/var/tmp"))
    workdir.chmod(0o755)
    base = ["--platform-dir", str(workdir)]
    try:
        started = runner.invoke(app, [*base, "start", "--free-ports"])
        assert started.exit_code == 0, started.output
        state = json.loads((workdir / "state.json").read_text())
        status = runner.invoke(app, [*base, "status"])
        assert status.exit_code == 0, status.output
        stopped = runner.invoke(app, [*base, "stop"])
        assert stopped.exit_code == 0 and "stopped" in stopped.output, stopped.output
        from bpctl.local import alive

        assert not any(alive(pid) for pid in state["pids"].values())
        assert not alive(state["kafka_pid"]) and not alive(state["postgres_pid"])
        assert not (workdir / "state.json").exists()
        assert "no local platform" in runner.invoke(app, [*base, "status"]).output
    finally:
        state_file = workdir / "state.json"
        if state_file.exists():  # a failed test must not leave a platform behind
            from bpctl.local import stop

            stop(json.loads(state_file.read_text()))
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


def test_parked_sagas_are_listed_and_retried_through_the_api(
    bpctl: Run, platform: Platform, client: PlatformClient
) -> None:
    """A saga parked on its payment step (parked by hand: the real causes take minutes) is
    listed with why, retried by bpctl as staff of its tenant, audited, and runs again."""
    from tests.support.db import fetch, scalar

    resource = client.create_resource(f"bpctl park {uuid.uuid4().hex[:6]}", capacity=1)
    client.create_rate_plan(resource["id"], "60.00", "EUR")
    day = datetime.now(UTC).date() + timedelta(days=300)
    body = booking_body(resource["id"], day, nights=1, pm="bank_transfer")
    booking = client.book(body, key=str(uuid.uuid4()), wait=10).json()
    assert booking["status"] == "awaiting_payment"
    booking_db = platform.database_urls["booking"]
    fetch(
        booking_db,
        "UPDATE sagas SET status = 'parked', state = state || jsonb_build_object('status', "
        "'parked', 'parked_from', 'running', 'waiting', false, 'failure_detail', "
        "'made up for the test') WHERE booking_id = $1::uuid",
        booking["id"],
    )
    listed = json.loads(bpctl("saga", "parked", "--json"))
    mine = [p for p in listed if p["booking_id"] == booking["id"]]
    assert len(mine) == 1 and "made up for the test" in mine[0]["why"]
    assert mine[0]["current_step"] == "authorize_payment"
    assert "retried 1 of 1" in bpctl("saga", "retry", booking["id"])
    assert (
        scalar(booking_db, "SELECT status FROM sagas WHERE booking_id = $1::uuid", booking["id"])
        == "running"
    )
    audit = client.http.get(
        f"{client.urls['booking']}/api/v1/bookings/{booking['id']}/audit"
    ).json()
    assert [e["action"] for e in audit].count("saga_retry") == 1
    assert "no parked saga" in bpctl("saga", "retry", booking["id"], code=1)
    assert "--all-parked" in bpctl("saga", "retry", code=1)


def test_refused_outbox_rows_are_listed_and_released_for_the_relay(
    bpctl: Run, platform: Platform
) -> None:
    """A row set aside (a topic the cluster lacks) is listed with its error, makes outbox
    status fail, and once released the relay tries it again (and holds it again: the topic is
    still missing)."""
    from tests.support.db import fetch, scalar

    booking_db = platform.database_urls["booking"]
    key = f"bpctl-held-{uuid.uuid4()}"
    fetch(
        booking_db,
        "INSERT INTO outbox (message_id, topic, key, ce_type, source, payload, attempts, "
        "last_error, held_until) VALUES (gen_random_uuid(), 'bpctl.missing.topic', $1, "
        "'bpctl.test.v1', '/bpctl/tests', '{}', 5, 'UnknownTopicOrPartitionError: made up', "
        "'infinity')",
        key,
    )
    try:
        held = [r for r in json.loads(bpctl("outbox", "held", "--json")) if r["key"] == key]
        assert len(held) == 1 and held[0]["set_aside"] and held[0]["service"] == "booking"
        assert "see bpctl outbox held" in bpctl("outbox", "status", "--max-age", "600", code=1)
        row_id = str(held[0]["id"])
        assert "released 1" in bpctl("outbox", "retry", row_id, "--service", "booking")
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while datetime.now(UTC) < deadline:
            attempts = scalar(booking_db, "SELECT attempts FROM outbox WHERE key = $1", key)
            if attempts == 1:
                break
            asyncio.run(asyncio.sleep(0.5))
        assert attempts == 1, "the relay tried the released row again"
        assert "--all" in bpctl("outbox", "retry", code=1)
    finally:
        fetch(booking_db, "DELETE FROM outbox WHERE key = $1", key)
