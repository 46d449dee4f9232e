"""The consumer runner's unit of work against real Postgres: inbox claim and effect together."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from contracts.inventory import ReleaseCapacity
from contracts.topics import INVENTORY_COMMANDS
from devstack.platform import Platform
from messaging.envelope import Envelope
from messaging.inbox import Inbox
from messaging.outbox import Outbox
from messaging.runner import (
    STALLED,
    TRANSIENT_FAILURES,
    ConsumerRunner,
    HandlerContext,
    PoisonMessage,
    RetryPolicy,
    Subscription,
)
from service_kit.db import make_engine
from tests.support import scratch_db
from tests.support.scratch_db import INBOX, OUTBOX

pytestmark = pytest.mark.integration


def a_runner(engine, platform: Platform, name: str) -> ConsumerRunner:  # type: ignore[no-untyped-def]
    return ConsumerRunner(
        consumer_name=name,
        bootstrap_servers=platform.bootstrap,
        engine=engine,
        outbox=Outbox(OUTBOX, "/tests"),
        inbox=Inbox(INBOX),
        subscriptions=[],
    )


def a_record(env: Envelope, offset: int = 7, partition: int = 0) -> SimpleNamespace:
    return SimpleNamespace(
        key=b"b-1",
        value=env.data,
        headers=env.headers(),
        topic="inventory.commands",
        partition=partition,
        offset=offset,
    )


def capture_dead_letters(runner: ConsumerRunner) -> list[tuple[str, BaseException]]:
    dead: list[tuple[str, BaseException]] = []

    async def capture(topic, record, headers, exc):  # type: ignore[no-untyped-def]
        dead.append((topic.name, exc))

    runner.dead_letter = capture  # type: ignore[method-assign]
    return dead


def an_envelope(message_id: str = "m-1") -> Envelope:
    msg = ReleaseCapacity(booking_id="b-1", step="release_capacity")
    return Envelope(
        id=message_id,
        source="/tests",
        type=msg.ce_type(),
        time=datetime.now(UTC),
        data=msg.model_dump_json().encode(),
        partitionkey="b-1",
    )


@pytest.fixture(scope="module")
def db_url(platform: Platform) -> str:
    return scratch_db.create(
        platform, "inbox_test", "CREATE TABLE IF NOT EXISTS applied (n serial, booking_id text)"
    )


async def test_the_same_message_delivered_twice_is_applied_once(
    db_url: str, platform: Platform
) -> None:
    engine = make_engine(db_url)
    calls = 0

    async def handler(ctx: HandlerContext, message: ReleaseCapacity) -> None:
        nonlocal calls
        calls += 1
        await note_applied(ctx, message.booking_id)
        await asyncio.sleep(0.05)  # widen the window for the concurrent duplicate

    runner = a_runner(engine, platform, "inbox-test")
    env = an_envelope("dup-1")
    message = env.decode()
    results = await asyncio.gather(*(runner.apply(handler, env, message) for _ in range(5)))
    again = await runner.apply(handler, env, message)
    async with engine.connect() as conn:
        applied = (await conn.execute(text("SELECT count(*) FROM applied"))).scalar()
    await engine.dispose()
    assert sorted(results) == [False, False, False, False, True] and again is False
    assert applied == 1


async def test_a_failed_effect_leaves_no_inbox_record_so_the_redelivery_applies(
    db_url: str, platform: Platform
) -> None:
    engine = make_engine(db_url)
    attempts = 0

    async def flaky(ctx: HandlerContext, message: ReleaseCapacity) -> None:
        nonlocal attempts
        attempts += 1
        await ctx.conn.execute(text("INSERT INTO applied (booking_id) VALUES ('flaky')"))
        if attempts == 1:
            raise ConnectionError("database went away mid-transaction")

    runner = a_runner(engine, platform, "inbox-test-2")
    env = an_envelope("flaky-1")
    message = env.decode()
    applied = await runner.until_done(a_record(env), lambda: runner.apply(flaky, env, message))
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT count(*) FROM applied WHERE booking_id = 'flaky'"))
        ).scalar()
    await engine.dispose()
    assert applied and attempts == 2 and rows == 1


async def test_purge_forgets_only_rows_older_than_the_retention(db_url: str) -> None:
    engine = make_engine(db_url)
    inbox = Inbox(INBOX)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM inbox WHERE consumer = 'purge-test'"))
        for i, age_days in enumerate((10, 9, 1, 0)):
            await conn.execute(
                text(
                    "INSERT INTO inbox (consumer, message_source, message_id, ce_type, received_at) "
                    "VALUES ('purge-test', '/tests', :id, 't', now() - make_interval(days => :d))"
                ),
                {"id": f"p-{i}", "d": age_days},
            )
    async with engine.begin() as conn:
        removed = await inbox.purge(conn, older_than_seconds=8 * 24 * 3600)
        left = await conn.execute(
            text("SELECT message_id FROM inbox WHERE consumer = 'purge-test' ORDER BY message_id")
        )
        kept = [r[0] for r in left]
    await engine.dispose()
    assert removed == 2 and kept == ["p-2", "p-3"]


async def test_a_transient_failure_is_retried_in_place_for_as_long_as_it_lasts_never_dead_lettered(
    db_url: str, platform: Platform
) -> None:
    """Far past any budget the old runner had (8 tries, 6 s): the partition waits, readiness
    reports the stall while it lasts, and the message is applied once when the cause is gone."""
    engine = make_engine(db_url)
    attempts = 0
    stalls: list[str | None] = []
    runner = a_runner(engine, platform, "inbox-test-3")

    async def down_for_a_while(ctx: HandlerContext, message: ReleaseCapacity) -> None:
        nonlocal attempts
        attempts += 1
        stalls.append(runner.stall())
        if attempts <= 40:
            raise ConnectionError("database unreachable")
        await ctx.conn.execute(text("INSERT INTO applied (booking_id) VALUES ('waited')"))

    runner.retry = RetryPolicy(initial_s=0.01, max_s=0.05, stall_report_s=0.2, handoff_after_s=0)
    dead = capture_dead_letters(runner)
    failures = TRANSIENT_FAILURES.labels("inbox-test-3", "inventory.commands")
    before = failures._value.get()
    env = an_envelope("down-for-a-while-1")
    await runner.process(
        Subscription(INVENTORY_COMMANDS, {ReleaseCapacity: down_for_a_while}), a_record(env)
    )
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT count(*) FROM applied WHERE booking_id = 'waited'"))
        ).scalar()
    await engine.dispose()
    assert attempts == 41 and rows == 1 and dead == []
    assert failures._value.get() - before == 40
    assert stalls[0] is None and any(s and "inventory.commands[0]" in s for s in stalls)
    assert runner.stall() is None
    assert STALLED.labels("inbox-test-3", "inventory.commands")._value.get() == 0


async def test_a_permanent_failure_is_dead_lettered_at_once_and_leaves_no_inbox_record(
    db_url: str, platform: Platform
) -> None:
    engine = make_engine(db_url)
    attempts = 0

    async def broken(ctx: HandlerContext, message: ReleaseCapacity) -> None:
        nonlocal attempts
        attempts += 1
        raise ValueError("this message can never be applied")

    runner = a_runner(engine, platform, "inbox-test-4")
    dead = capture_dead_letters(runner)
    env = an_envelope("broken-1")
    await runner.process(Subscription(INVENTORY_COMMANDS, {ReleaseCapacity: broken}), a_record(env))
    async with engine.connect() as conn:
        claimed = (
            await conn.execute(text("SELECT count(*) FROM inbox WHERE consumer = 'inbox-test-4'"))
        ).scalar()
    await engine.dispose()
    assert attempts == 1
    assert [(name, type(exc)) for name, exc in dead] == [("inventory.commands", ValueError)]
    assert claimed == 0, "a dead-lettered message leaves no inbox record: a redrive applies it"


async def test_a_record_that_kills_every_process_is_dead_lettered_after_max_crashes(
    db_url: str, platform: Platform
) -> None:
    """Each ConsumerRunner here is a new process: the crash count lives in the database, so
    the fourth process to get the record dead-letters it instead of dying too. A
    BaseException is never turned into an outcome (it escapes, and the record is not acked)."""
    engine = make_engine(db_url)
    calls = 0

    async def kills_the_process(ctx: HandlerContext, message: ReleaseCapacity) -> None:
        nonlocal calls
        calls += 1
        raise SystemExit(137)

    env = an_envelope("kills-1")
    sub = Subscription(INVENTORY_COMMANDS, {ReleaseCapacity: kills_the_process})
    for _ in range(3):
        crashing = a_runner(engine, platform, "inbox-test-5")
        with pytest.raises(SystemExit):
            await crashing.process(sub, a_record(env, offset=42))
    survivor = a_runner(engine, platform, "inbox-test-5")
    dead = capture_dead_letters(survivor)
    await survivor.process(sub, a_record(env, offset=42))

    # The next record of the partition is applied normally (and counted afresh).
    async def fine(ctx: HandlerContext, message: ReleaseCapacity) -> None:
        pass

    fresh = a_runner(engine, platform, "inbox-test-5")
    ok = capture_dead_letters(fresh)
    await fresh.process(
        Subscription(INVENTORY_COMMANDS, {ReleaseCapacity: fine}),
        a_record(an_envelope("after-kills-1"), offset=43),
    )
    await engine.dispose()
    assert calls == 3
    assert [type(exc) for _, exc in dead] == [PoisonMessage] and ok == []


async def test_an_unclassified_failure_while_the_database_is_away_is_retried_not_dead_lettered(
    db_url: str, platform: Platform
) -> None:
    """A driver or pool error that does not say it is transient, raised while the database does
    not answer, is the outage's: retried. The same error with the database answering is the
    message's: raised (and dead-lettered by the caller)."""
    attempts = 0

    async def failing_twice() -> str:
        nonlocal attempts
        attempts += 1
        if attempts <= 2:
            raise RuntimeError("a driver error that names no SQLSTATE")
        return "applied"

    # Nothing listens on port 1: the probe's fresh connection fails, as in an outage.
    away = make_engine("postgresql://nobody@127.0.0.1:1/none")
    runner = a_runner(away, platform, "probe-test")
    runner.retry = RetryPolicy(initial_s=0.01, max_s=0.02, probe_timeout_s=2.0)
    env = an_envelope("probe-1")
    assert await runner.until_done(a_record(env), failing_twice) == "applied"
    assert attempts == 3
    await away.dispose()

    attempts = 0
    answering = make_engine(db_url)
    runner = a_runner(answering, platform, "probe-test")
    with pytest.raises(RuntimeError):
        await runner.until_done(a_record(env), failing_twice)
    assert attempts == 1
    # What the message says is permanent is believed without asking the database.
    runner.engine = away

    async def permanent() -> None:
        raise PoisonMessage("never")

    with pytest.raises(PoisonMessage):
        await runner.until_done(a_record(env), permanent)
    await answering.dispose()


async def note_applied(ctx: HandlerContext, booking_id: str) -> None:
    """What a test handler's effect is: a row in ``applied``, in its transaction."""
    await ctx.conn.execute(text("INSERT INTO applied (booking_id) VALUES (:b)"), {"b": booking_id})


async def applied_ids(engine, prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The booking ids the test handlers applied that start with ``prefix``, in order."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT booking_id FROM applied WHERE booking_id LIKE :p ORDER BY n"),
            {"p": f"{prefix}%"},
        )
        return list(rows.scalars())


def a_tenant_envelope(message_id: str, booking_id: str, tenant: str) -> Envelope:
    msg = ReleaseCapacity(booking_id=booking_id, step="release_capacity", tenant_id=tenant)
    return Envelope(
        id=message_id,
        source="/tests",
        type=msg.ce_type(),
        time=datetime.now(UTC),
        data=msg.model_dump_json().encode(),
        partitionkey=booking_id,
    )


async def test_a_batch_is_one_transaction_each_record_once_in_order_and_for_its_tenant(
    db_url: str, platform: Platform
) -> None:
    """Records already fetched share one transaction: each is applied once (one applied before
    and a second copy within the batch are duplicates), in order, each acting for its own
    tenant; one poison note per partition."""
    engine = make_engine(db_url)
    seen: list[tuple[str, str, int]] = []

    async def handler(ctx: HandlerContext, message: ReleaseCapacity) -> None:
        tenant, txid = (
            await ctx.conn.execute(
                text("SELECT current_setting('platform.tenant', true), txid_current()")
            )
        ).one()
        seen.append((message.booking_id, tenant, txid))

    runner = a_runner(engine, platform, "batch-test-1")
    dead = capture_dead_letters(runner)
    sub = Subscription(INVENTORY_COMMANDS, {ReleaseCapacity: handler})
    before = an_envelope("batch-before-1")
    assert await runner.apply(handler, before, before.decode())
    seen.clear()
    envelopes = [
        a_tenant_envelope("batch-1", "b-1", "t-a"),
        a_tenant_envelope("batch-2", "b-2", "t-b"),
        before,  # applied before: a duplicate
        a_tenant_envelope("batch-1", "b-1", "t-a"),  # a second copy in this batch
        a_tenant_envelope("batch-3", "b-3", "t-a"),
    ]
    records = [a_record(e, offset=100 + i, partition=i % 2) for i, e in enumerate(envelopes)]
    await runner.process_many(sub, records)
    async with engine.connect() as conn:
        notes = (
            await conn.execute(
                text(
                    'SELECT partition, "offset", starts FROM consumer_deliveries '
                    "WHERE consumer = 'batch-test-1' ORDER BY partition"
                )
            )
        ).all()
    await engine.dispose()
    assert dead == []
    assert [(b, t) for b, t, _ in seen] == [("b-1", "t-a"), ("b-2", "t-b"), ("b-3", "t-a")]
    assert len({txid for _, _, txid in seen}) == 1, "one transaction for the batch"
    assert [tuple(n) for n in notes] == [(0, 100, 1), (1, 101, 1)]


async def test_a_batch_with_a_record_that_can_never_apply_dead_letters_only_that_record(
    db_url: str, platform: Platform
) -> None:
    engine = make_engine(db_url)
    calls: list[str] = []

    async def handler(ctx: HandlerContext, message: ReleaseCapacity) -> None:
        calls.append(message.booking_id)
        if message.booking_id == "b-bad":
            raise ValueError("this message can never be applied")
        await note_applied(ctx, message.booking_id)

    runner = a_runner(engine, platform, "batch-test-2")
    dead = capture_dead_letters(runner)
    sub = Subscription(INVENTORY_COMMANDS, {ReleaseCapacity: handler})
    ids = ["b-ok-1", "b-bad", "b-ok-2"]
    records = [
        a_record(a_tenant_envelope(f"batch-bad-{i}", b, "t-a"), offset=200 + i)
        for i, b in enumerate(ids)
    ]
    await runner.process_many(sub, records)
    applied = await applied_ids(engine, "b-ok-")
    async with engine.connect() as conn:
        claimed = (
            await conn.execute(text("SELECT count(*) FROM inbox WHERE consumer = 'batch-test-2'"))
        ).scalar()
    await engine.dispose()
    assert [type(exc) for _, exc in dead] == [ValueError]
    assert applied == ["b-ok-1", "b-ok-2"] and claimed == 2
    # The batch rolled back at the bad record, then each record was applied on its own.
    assert calls == ["b-ok-1", "b-bad", "b-ok-1", "b-bad", "b-ok-2"]


async def test_a_batch_that_fails_transiently_is_retried_whole_and_applied_once(
    db_url: str, platform: Platform
) -> None:
    engine = make_engine(db_url)
    attempts = 0

    async def handler(ctx: HandlerContext, message: ReleaseCapacity) -> None:
        nonlocal attempts
        await note_applied(ctx, message.booking_id)
        if message.booking_id == "b-t-2":
            attempts += 1
            if attempts <= 3:
                raise ConnectionError("database unreachable")

    runner = a_runner(engine, platform, "batch-test-3")
    runner.retry = RetryPolicy(initial_s=0.01, max_s=0.02, handoff_after_s=0)
    dead = capture_dead_letters(runner)
    sub = Subscription(INVENTORY_COMMANDS, {ReleaseCapacity: handler})
    records = [
        a_record(a_tenant_envelope(f"batch-t-{i}", f"b-t-{i}", "t-a"), offset=300 + i)
        for i in range(1, 4)
    ]
    await runner.process_many(sub, records)
    applied = await applied_ids(engine, "b-t-")
    await engine.dispose()
    assert dead == [] and attempts == 4
    assert applied == ["b-t-1", "b-t-2", "b-t-3"]


async def test_a_record_that_kills_processes_inside_a_batch_is_found_and_dead_lettered(
    db_url: str, platform: Platform
) -> None:
    """A death inside a batch leaves the next process a note it did not expect: it applies
    that range one record at a time, noting each, so the record at fault is counted and
    dead-lettered (after at most one death more than for a record met alone), and the records
    before it are applied."""
    engine = make_engine(db_url)
    deaths = 0

    async def handler(ctx: HandlerContext, message: ReleaseCapacity) -> None:
        nonlocal deaths
        if message.booking_id == "b-kill":
            deaths += 1
            raise SystemExit(137)
        await note_applied(ctx, message.booking_id)

    sub = Subscription(INVENTORY_COMMANDS, {ReleaseCapacity: handler})
    ids = ["b-k-1", "b-kill", "b-k-2"]
    records = [
        a_record(a_tenant_envelope(f"batch-kill-{i}", b, "t-a"), offset=400 + i)
        for i, b in enumerate(ids)
    ]
    dead: list[tuple[str, BaseException]] = []
    for _process in range(6):
        runner = a_runner(engine, platform, "batch-test-4")
        dead = capture_dead_letters(runner)
        try:
            await runner.process_many(sub, records)
            break
        except SystemExit:
            continue
    applied = await applied_ids(engine, "b-k-")
    await engine.dispose()
    assert [type(exc) for _, exc in dead] == [PoisonMessage]
    assert deaths == 4, "three counted deaths after the one inside the batch"
    assert applied == ["b-k-1", "b-k-2"]
