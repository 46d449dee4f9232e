"""The Idempotency-Key store against the booking service's real schema on real Postgres: a key
in flight is refused until its lease runs out and is then taken over; a completed key replays
its response until it expires; expired keys are purged and the key is free again."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from booking.adapters import idempotency
from devstack.platform import Platform
from service_kit.db import make_engine
from tests.support import scratch_db

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db_url(platform: Platform) -> str:
    return scratch_db.migrated(platform, "booking", "booking_idempotency_test")


@pytest.fixture()
async def engine(db_url: str):  # type: ignore[no-untyped-def]
    eng = make_engine(db_url, pool_size=5)
    yield eng
    await eng.dispose()


SCOPE = "tenant:guest:POST /bookings"


async def test_a_key_in_flight_is_refused_until_its_lease_runs_out_then_taken_over(
    engine,
) -> None:  # type: ignore[no-untyped-def]
    key, digest = str(uuid.uuid4()), idempotency.fingerprint({"a": 1})
    assert await idempotency.claim(engine, SCOPE, key, digest, 3600, lease_s=1.0) is None
    busy = await idempotency.claim(engine, SCOPE, key, digest, 3600, lease_s=1.0)
    assert busy is not None and busy.status_code is None  # in flight: the API answers 409
    await asyncio.sleep(1.2)  # the first request died without finishing or releasing
    assert await idempotency.claim(engine, SCOPE, key, digest, 3600, lease_s=1.0) is None


async def test_a_completed_key_replays_and_an_expired_one_is_purged_and_free_again(
    engine,
) -> None:  # type: ignore[no-untyped-def]
    key, digest = str(uuid.uuid4()), idempotency.fingerprint({"a": 2})
    booking_id = str(uuid.uuid4())
    assert await idempotency.claim(engine, SCOPE, key, digest, ttl_s=1.0, lease_s=60) is None
    async with engine.begin() as conn:
        await idempotency.complete(conn, SCOPE, key, 202, {"id": booking_id}, booking_id)
    stored = await idempotency.claim(engine, SCOPE, key, digest, ttl_s=1.0, lease_s=60)
    assert stored is not None and (stored.status_code, stored.body) == (202, {"id": booking_id})
    other = await idempotency.claim(engine, "other:caller:POST /bookings", key, digest, 1.0, 60)
    assert other is None  # keys are scoped per caller: another caller's key is a new one

    await asyncio.sleep(1.2)
    async with engine.begin() as conn:
        assert await idempotency.purge_expired(conn) >= 1
    async with engine.connect() as conn:
        left = (
            await conn.execute(
                text("SELECT count(*) FROM idempotency_keys WHERE key = :k AND scope = :s"),
                {"k": key, "s": SCOPE},
            )
        ).scalar()
    assert left == 0
    assert await idempotency.claim(engine, SCOPE, key, digest, 3600, 60) is None  # a new request
