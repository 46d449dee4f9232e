"""Every connection the platform opens is bounded: the server ends a statement, a lock wait and
an idle transaction that run too long, and keepalives find a vanished peer. Shown on real
Postgres: the settings each connection starts with, a lock wait that ends in lock_timeout
(a transient error: the runner retries it) instead of waiting for ever, and sessions cut by the
server (in the pool, or as they open) that end in a new connection or a transient error, never
in one a consumer would dead-letter."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.util.concurrency import await_only

from devstack.platform import Platform
from messaging import tenancy
from messaging.errors import is_transient
from service_kit.db import DbTimeouts, asyncpg_dsn, make_engine
from tests.support import scratch_db

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db_url(platform: Platform) -> str:
    return scratch_db.create(
        platform, "timeouts_test", "CREATE TABLE IF NOT EXISTS rooms (id int PRIMARY KEY)"
    )


async def test_every_connection_starts_with_its_timeouts_and_keepalives(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            shown = {
                name: (await conn.execute(text(f"SHOW {name}"))).scalar()
                for name in (
                    "statement_timeout",
                    "lock_timeout",
                    "idle_in_transaction_session_timeout",
                    "tcp_keepalives_idle",
                    "tcp_keepalives_interval",
                    "tcp_keepalives_count",
                )
            }
    finally:
        await engine.dispose()
    assert shown == {
        "statement_timeout": "30s",
        "lock_timeout": "10s",
        "idle_in_transaction_session_timeout": "30s",
        "tcp_keepalives_idle": "10",
        "tcp_keepalives_interval": "5",
        "tcp_keepalives_count": "3",
    }


async def test_a_lock_held_by_a_frozen_transaction_times_out_as_a_transient_error(
    db_url: str,
) -> None:
    """One transaction takes a row lock and goes quiet (a frozen worker); another waiting for
    the row gives up at its lock timeout, with an error the runner retries, and the quiet one
    is ended by the server at its idle-in-transaction timeout, which frees the lock."""
    timeouts = DbTimeouts(lock_s=1.0, idle_in_transaction_s=2.0)
    engine = make_engine(db_url, timeouts=timeouts)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO rooms VALUES (1) ON CONFLICT DO NOTHING"))
        frozen = await engine.connect()
        await frozen.begin()
        await frozen.execute(text("SELECT * FROM rooms WHERE id = 1 FOR UPDATE"))
        with pytest.raises(Exception) as waited:
            async with engine.begin() as conn:
                await conn.execute(text("SELECT * FROM rooms WHERE id = 1 FOR UPDATE"))
        assert is_transient(waited.value), waited.value
        await asyncio.sleep(3.0)  # past the idle-in-transaction timeout: the server ends it
        async with engine.begin() as conn:
            await conn.execute(text("SELECT * FROM rooms WHERE id = 1 FOR UPDATE"))
        with pytest.raises(Exception) as ended:
            await frozen.execute(text("SELECT 1"))
        assert is_transient(ended.value), ended.value
        await frozen.close()
    finally:
        await engine.dispose()


async def _terminate(admin: asyncpg.Connection, pid: int) -> None:
    await admin.execute("SELECT pg_terminate_backend($1)", pid)


async def test_a_pooled_connection_cut_while_idle_is_replaced_when_the_tenant_changes(
    db_url: str,
) -> None:
    """The session is told its tenant on checkout; a pooled connection whose backend was ended
    meanwhile (a failover) is dropped there and a new one used, unseen by the caller."""
    engine = make_engine(db_url, pool_size=1)
    admin = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        with tenancy.acting_for("tenant-a"):
            async with engine.connect() as conn:
                pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        await _terminate(admin, pid)
        with tenancy.acting_for("tenant-b"):
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        text("SELECT pg_backend_pid(), current_setting('platform.tenant')")
                    )
                ).one()
        assert row[0] != pid and row[1] == "tenant-b"
    finally:
        await admin.close()
        await engine.dispose()


async def test_a_connection_cut_as_it_opens_fails_with_an_error_that_is_retried(
    db_url: str,
) -> None:
    """While a database cuts every new session (a failover in progress), telling a fresh
    connection its tenant fails: the caller sees the database's own, transient, error, so a
    consumer retries the message rather than dead-lettering it."""
    engine = make_engine(db_url, pool_size=1)
    admin = await asyncpg.connect(asyncpg_dsn(db_url))

    @event.listens_for(engine.sync_engine, "connect")
    def _cut(dbapi_connection: Any, _: Any) -> None:
        await_only(_terminate(admin, dbapi_connection.driver_connection.get_server_pid()))

    try:
        with tenancy.acting_for("tenant-a"), pytest.raises(Exception) as failed:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert is_transient(failed.value), repr(failed.value)
        event.remove(engine.sync_engine, "connect", _cut)
        with tenancy.acting_for("tenant-a"):
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await admin.close()
        await engine.dispose()
