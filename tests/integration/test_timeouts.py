"""Every connection the platform opens is bounded: the server ends a statement, a lock wait and
an idle transaction that run too long, and keepalives find a vanished peer. Shown on real
Postgres: the settings each connection starts with, and a lock wait that ends in lock_timeout
(a transient error: the runner retries it) instead of waiting for ever."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from devstack.platform import Platform
from messaging.errors import is_transient
from service_kit.db import DbTimeouts, make_engine
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
