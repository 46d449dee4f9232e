"""The capacity ledger against its real schema (inventory migrations) on real Postgres.

Time is passed in (``now``), so expiry is tested without sleeping and without the worker's job.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from devstack.kafka import REPO_ROOT
from devstack.platform import Platform
from inventory.adapters import tables
from inventory.adapters.ledger import Ledger, claim_by_id
from inventory.domain.resources import InsufficientCapacity
from messaging.outbox import Outbox
from service_kit.db import make_engine
from tests.support import scratch_db

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STAY = date(2030, 6, 1)
TTL = timedelta(minutes=15)


@pytest.fixture(scope="module")
def db_url(platform: Platform) -> str:
    return scratch_db.migrated(platform, "inventory", "inventory_ledger_test")


@pytest.fixture()
async def engine(db_url: str):  # type: ignore[no-untyped-def]
    eng = make_engine(db_url, pool_size=20)
    yield eng
    await eng.dispose()


LEDGER = Ledger(Outbox(tables.outbox, "/booking-platform/inventory"))


async def a_resource(engine, capacity: int) -> str:  # type: ignore[no-untyped-def]
    rid = str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO resources (id, name, booking_mode, capacity, timezone) "
                "VALUES (:id, 'ledger test', 'nightly', :c, 'Europe/Lisbon')"
            ),
            {"id": rid, "c": capacity},
        )
    return rid


async def hold(engine, rid: str, now: datetime, nights: int = 2, start: date = STAY):  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        return await LEDGER.claim(
            conn,
            resource_id=rid,
            check_in=start,
            check_out=start + timedelta(days=nights),
            quantity=1,
            now=now,
            ttl=TTL,
            holder="cart",
        )


async def reserved(engine, rid: str) -> list[int]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT reserved FROM capacity_nights WHERE resource_id = :r ORDER BY night"),
            {"r": rid},
        )
        return [r[0] for r in rows]


async def test_an_expired_hold_never_blocks_even_before_the_expiry_job_runs(engine) -> None:  # type: ignore[no-untyped-def]
    rid = await a_resource(engine, capacity=1)
    first = await hold(engine, rid, T0)
    with pytest.raises(InsufficientCapacity):
        await hold(engine, rid, T0 + TTL - timedelta(seconds=1))
    second = await hold(engine, rid, T0 + TTL + timedelta(seconds=1))  # no job ran
    async with engine.connect() as conn:
        assert (await claim_by_id(conn, first.id, lock=False)).status == "expired"  # type: ignore[union-attr]
        events = await conn.execute(
            text("SELECT ce_type FROM outbox WHERE payload LIKE :p ORDER BY id"),
            {"p": f'%"claim_id":"{first.id}"%'},
        )
        assert [e[0] for e in events] == [
            "inventory.hold_expired.v1",
            "inventory.capacity_released.v1",
        ]
    assert second.status == "held" and await reserved(engine, rid) == [1, 1]


async def test_the_expiry_job_in_two_processes_releases_each_claim_once(
    platform: Platform, db_url: str, engine
) -> None:
    total = 300
    rid = await a_resource(engine, capacity=total)
    claims = [await hold(engine, rid, T0, start=STAY + timedelta(days=i % 5)) for i in range(total)]
    later = (T0 + TTL + timedelta(minutes=1)).isoformat()
    start_at = str(time.time() + 4)  # both processes import, connect, then sweep together
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.expiry_proc",
            db_url,
            later,
            "20",  # claims due per round, each expired in its own transaction: the two
            # processes take them in their own random orders and interleave for the whole run
            start_at,
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 120)
    counts = [int(out.decode().split()[-1]) for out, _ in outputs]
    assert sum(counts) == total and all(c > 0 for c in counts), counts
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT payload FROM outbox WHERE ce_type = 'inventory.hold_expired.v1' "
                "AND key = :r"
            ),
            {"r": rid},
        )
        per_claim = Counter(__import__("json").loads(r[0])["claim_id"] for r in rows)
    assert per_claim == Counter({c.id: 1 for c in claims})
    assert set(await reserved(engine, rid)) == {0}


async def test_holds_and_reservations_racing_for_the_last_unit_have_one_winner(engine) -> None:  # type: ignore[no-untyped-def]
    rid = await a_resource(engine, capacity=1)

    async def attempt(i: int) -> bool:
        try:
            async with engine.begin() as conn:
                await LEDGER.claim(
                    conn,
                    resource_id=rid,
                    check_in=STAY,
                    check_out=STAY + timedelta(days=3),
                    quantity=1,
                    now=T0,
                    ttl=TTL,
                    booking_id=f"b-{uuid.uuid4()}" if i % 2 else None,
                    holder=None if i % 2 else "cart",
                )
            return True
        except InsufficientCapacity:
            return False

    results = await asyncio.gather(*(attempt(i) for i in range(30)))
    assert results.count(True) == 1
    assert await reserved(engine, rid) == [1, 1, 1]


operations = st.lists(
    st.tuples(
        st.sampled_from(["hold", "book", "confirm", "release", "expire", "wait"]),
        st.integers(min_value=0, max_value=6),  # which night the stay starts on / which claim
        st.integers(min_value=1, max_value=3),  # nights
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_random_sequences_never_leave_capacity_negative_or_above_the_limit(
    db_url: str, ops
) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(_run_sequence(db_url, ops))


async def _run_sequence(db_url: str, ops) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(db_url, pool_size=2)
    capacity = 2
    rid = await a_resource(engine, capacity)
    now = T0
    claim_ids: list[str] = []
    try:
        for op, n, nights in ops:
            start = STAY + timedelta(days=n)
            async with engine.begin() as conn:
                try:
                    if op in ("hold", "book"):
                        c = await LEDGER.claim(
                            conn,
                            resource_id=rid,
                            check_in=start,
                            check_out=start + timedelta(days=nights),
                            quantity=1,
                            now=now,
                            ttl=TTL,
                            booking_id=f"b-{uuid.uuid4()}" if op == "book" else None,
                            holder="cart" if op == "hold" else None,
                        )
                        claim_ids.append(c.id)
                    elif op in ("confirm", "release") and claim_ids:
                        c = await claim_by_id(conn, claim_ids[n % len(claim_ids)])
                        assert c is not None
                        if op == "confirm":
                            await LEDGER.confirm(conn, c)
                        else:
                            await LEDGER.release(conn, c, "test")
                    elif op == "expire":
                        await LEDGER.expire_due(conn, now)
                    elif op == "wait":
                        now += timedelta(minutes=5 * nights)
                except InsufficientCapacity:
                    pass
            async with engine.connect() as conn:
                nights_rows = (
                    await conn.execute(
                        text(
                            "SELECT night, capacity, reserved FROM capacity_nights WHERE resource_id = :r"
                        ),
                        {"r": rid},
                    )
                ).all()
                active = (
                    await conn.execute(
                        text(
                            "SELECT check_in, claimed_until, quantity FROM reservations "
                            "WHERE resource_id = :r AND status IN ('held', 'confirmed')"
                        ),
                        {"r": rid},
                    )
                ).all()
            expected: Counter = Counter()
            for check_in, until, quantity in active:
                day = check_in
                while day < until:
                    expected[day] += quantity
                    day += timedelta(days=1)
            for night, cap, taken in nights_rows:
                assert 0 <= taken <= cap == capacity
                assert taken == expected[night], (op, night)
    finally:
        await engine.dispose()


async def test_fifty_concurrent_overlapping_stays_for_one_property_get_exactly_one(engine) -> None:  # type: ignore[no-untyped-def]
    rid = await a_resource(engine, capacity=1)
    # Every request covers the night STAY+5, with different starts and lengths.
    requests = [(STAY + timedelta(days=i % 6), 6 - i % 6 + i % 3) for i in range(50)]

    async def attempt(start: date, nights: int) -> bool:
        try:
            async with engine.begin() as conn:
                await LEDGER.claim(
                    conn,
                    resource_id=rid,
                    check_in=start,
                    check_out=start + timedelta(days=nights),
                    quantity=1,
                    now=T0,
                    ttl=TTL,
                    booking_id=f"b-{uuid.uuid4()}",
                )
            return True
        except InsufficientCapacity:
            return False

    results = await asyncio.gather(*(attempt(s, n) for s, n in requests))
    assert results.count(True) == 1
    assert max(await reserved(engine, rid)) == 1


async def a_slot(engine, seats: int, starts: datetime) -> str:  # type: ignore[no-untyped-def]
    rid, sid = str(uuid.uuid4()), str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO resources (id, name, booking_mode, capacity, timezone) "
                "VALUES (:id, 'tour', 'timeslot', :c, 'Europe/Lisbon')"
            ),
            {"id": rid, "c": seats},
        )
        await conn.execute(
            text(
                "INSERT INTO slots (id, resource_id, starts_at, ends_at, capacity) "
                "VALUES (:id, :r, :a, :b, :c)"
            ),
            {"id": sid, "r": rid, "a": starts, "b": starts + timedelta(hours=2), "c": seats},
        )
    return sid


async def seats_taken(engine, slot_id: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT reserved, (SELECT COALESCE(sum(quantity), 0) FROM reservations WHERE "
                    "slot_id = s.id AND status IN ('held', 'confirmed')) FROM slots s WHERE id = :id"
                ),
                {"id": slot_id},
            )
        ).one()
        return row[0], row[1]


async def test_two_hundred_concurrent_reservations_for_a_ten_seat_slot_get_exactly_ten(
    engine,
) -> None:  # type: ignore[no-untyped-def]
    sid = await a_slot(engine, 10, datetime(2030, 6, 1, 9, tzinfo=UTC))

    async def attempt(quantity: int) -> int:
        try:
            async with engine.begin() as conn:
                await LEDGER.claim_slot(
                    conn,
                    slot_id=sid,
                    quantity=quantity,
                    now=T0,
                    ttl=TTL,
                    booking_id=f"b-{uuid.uuid4()}",
                )
            return quantity
        except InsufficientCapacity:
            return 0

    results = await asyncio.gather(*(attempt(1) for _ in range(200)))
    assert sum(results) == 10 and results.count(1) == 10
    assert await seats_taken(engine, sid) == (10, 10)

    parties = await a_slot(engine, 10, datetime(2030, 6, 2, 9, tzinfo=UTC))
    sid = parties
    mixed = await asyncio.gather(*(attempt(1 + i % 4) for i in range(60)))
    assert 0 < sum(mixed) <= 10
    assert await seats_taken(engine, sid) == (sum(mixed), sum(mixed))


async def test_an_expired_slot_hold_never_blocks_and_release_gives_the_seats_back(engine) -> None:  # type: ignore[no-untyped-def]
    sid = await a_slot(engine, 2, datetime(2030, 6, 3, 9, tzinfo=UTC))
    async with engine.begin() as conn:
        held = await LEDGER.claim_slot(
            conn, slot_id=sid, quantity=2, now=T0, ttl=TTL, holder="cart"
        )
    with pytest.raises(InsufficientCapacity):
        async with engine.begin() as conn:
            await LEDGER.claim_slot(conn, slot_id=sid, quantity=1, now=T0, ttl=TTL, holder="late")
    async with engine.begin() as conn:  # after the TTL, before any job: the stale hold gives way
        second = await LEDGER.claim_slot(
            conn, slot_id=sid, quantity=1, now=T0 + TTL * 2, ttl=TTL, holder="later"
        )
    async with engine.connect() as conn:
        assert (await claim_by_id(conn, held.id, lock=False)).status == "expired"  # type: ignore[union-attr]
    assert await seats_taken(engine, sid) == (1, 1)
    async with engine.begin() as conn:
        claim = await claim_by_id(conn, second.id)
        assert claim is not None and await LEDGER.release(conn, claim, "test")
    assert await seats_taken(engine, sid) == (0, 0)


async def a_meeting_room(engine, buffer_minutes: int) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    """One room (capacity 1) with four overlapping 60-minute slots from 09:00, every 30 minutes."""
    rid = str(uuid.uuid4())
    day = datetime(2030, 7, 1, 9, tzinfo=UTC)
    slot_ids = []
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO resources (id, name, kind, booking_mode, capacity, timezone, rules) "
                "VALUES (:id, 'room', 'meeting_room', 'timeslot', 1, 'Europe/Lisbon', "
                "CAST(:rules AS jsonb))"
            ),
            {"id": rid, "rules": f'{{"buffer_minutes": {buffer_minutes}}}'},
        )
        for i in range(4):
            sid = str(uuid.uuid4())
            starts = day + timedelta(minutes=30 * i)
            await conn.execute(
                text(
                    "INSERT INTO slots (id, resource_id, starts_at, ends_at, capacity) "
                    "VALUES (:id, :r, :a, :b, 1)"
                ),
                {"id": sid, "r": rid, "a": starts, "b": starts + timedelta(minutes=60)},
            )
            slot_ids.append(sid)
    return rid, slot_ids


async def try_slot(engine, slot_id: str, now: datetime = T0) -> bool:  # type: ignore[no-untyped-def]
    try:
        async with engine.begin() as conn:
            await LEDGER.claim_slot(
                conn, slot_id=slot_id, quantity=1, now=now, ttl=TTL, holder="team"
            )
        return True
    except InsufficientCapacity:
        return False


async def test_an_exclusive_unit_never_has_overlapping_claims_buffers_included(engine) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, c, d) = await a_meeting_room(engine, buffer_minutes=15)
    assert await try_slot(engine, a)  # 09:00-10:00, blocks 08:45-10:15
    assert not await try_slot(engine, b)  # 09:30: overlaps
    assert not await try_slot(engine, c)  # 10:00: inside the buffer
    assert await try_slot(engine, d)  # 10:30: blocks from 10:15, where a's buffer ends


@pytest.mark.parametrize("round_", range(30))
async def test_racing_claims_on_overlapping_slots_of_one_room_never_overlap(engine, round_) -> None:  # type: ignore[no-untyped-def]
    # Concurrent inserts into an exclusion constraint deadlock unless claims take turns: a
    # DeadlockDetectedError here fails the test, as would an overlap.
    rid, slots = await a_meeting_room(engine, buffer_minutes=0)
    results = await asyncio.gather(*(try_slot(engine, slots[i % 4]) for i in range(40)))
    assert 1 <= results.count(True) <= 2
    async with engine.connect() as conn:
        overlaps = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM reservations x JOIN reservations y ON x.id < y.id "
                    "AND x.resource_id = y.resource_id AND x.blocked && y.blocked "
                    "WHERE x.resource_id = :r AND x.status IN ('held', 'confirmed') "
                    "AND y.status IN ('held', 'confirmed')"
                ),
                {"r": rid},
            )
        ).scalar()
    assert overlaps == 0


async def test_an_expired_hold_on_an_exclusive_unit_gives_way_to_an_overlapping_slot(
    engine,
) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, _c, _d) = await a_meeting_room(engine, buffer_minutes=0)
    assert await try_slot(engine, a, now=T0)
    assert not await try_slot(engine, b, now=T0 + TTL - timedelta(seconds=1))
    assert await try_slot(engine, b, now=T0 + TTL + timedelta(seconds=1))


async def test_a_hold_is_extended_only_while_it_is_still_held(engine) -> None:  # type: ignore[no-untyped-def]
    rid = await a_resource(engine, capacity=1)
    claim = await hold(engine, rid, T0)
    async with engine.begin() as conn:
        until = await LEDGER.extend(conn, claim, T0 + timedelta(minutes=10), timedelta(minutes=30))
    assert until == T0 + timedelta(minutes=40)
    async with engine.begin() as conn:  # never shortens
        fresh = await claim_by_id(conn, claim.id)
        assert (
            await LEDGER.extend(conn, fresh, T0 + timedelta(minutes=11), timedelta(minutes=1))
            == until
        )  # type: ignore[arg-type]
    async with engine.begin() as conn:  # past its expiry, even unswept: too late
        fresh = await claim_by_id(conn, claim.id)
        assert await LEDGER.extend(conn, fresh, until + timedelta(seconds=1), TTL) is None  # type: ignore[arg-type]


async def _replace(engine, rid: str, old, start: date, nights: int):  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        return await LEDGER.claim(
            conn,
            resource_id=rid,
            check_in=start,
            check_out=start + timedelta(days=nights),
            quantity=1,
            now=T0,
            ttl=TTL,
            booking_id=old.booking_id,
            claim_key=f"{old.booking_id}#2",
            replaces=old,
        )


async def _release(engine, claim_id: str) -> None:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        claim = await claim_by_id(conn, claim_id)
        assert claim is not None and await LEDGER.release(conn, claim, "test")


@pytest.mark.parametrize("keep", ["new", "old"])
async def test_a_replacing_claim_shares_the_nights_it_has_in_common_with_the_old_one(
    engine, keep: str
) -> None:  # type: ignore[no-untyped-def]
    """Extending a stay in a one-unit resource: nights 1-3 become 2-5. The overlap is counted
    once while both claims hold; releasing either leaves exactly the other's nights taken."""
    rid = await a_resource(engine, capacity=1)
    async with engine.begin() as conn:
        old = await LEDGER.claim(
            conn,
            resource_id=rid,
            check_in=STAY,
            check_out=STAY + timedelta(days=2),
            quantity=1,
            now=T0,
            ttl=TTL,
            booking_id=str(uuid.uuid4()),
        )
    new = await _replace(engine, rid, old, STAY + timedelta(days=1), 3)
    assert await reserved(engine, rid) == [1, 1, 1, 1]  # nights 1..4, none twice
    with pytest.raises(InsufficientCapacity):  # nobody else gets the shared night
        await hold(engine, rid, T0, nights=1, start=STAY + timedelta(days=1))
    await _release(engine, new.id if keep == "old" else old.id)
    assert await reserved(engine, rid) == ([1, 1, 0, 0] if keep == "old" else [0, 1, 1, 1])
    await _release(engine, old.id if keep == "old" else new.id)
    assert await reserved(engine, rid) == [0, 0, 0, 0]


@pytest.mark.parametrize(("old_party", "new_party"), [(3, 4), (4, 2)])
async def test_a_replacing_claim_on_the_same_slot_takes_only_the_seats_it_adds(
    engine, old_party: int, new_party: int
) -> None:  # type: ignore[no-untyped-def]
    sid = await a_slot(engine, 4, datetime(2030, 6, 3, 9, tzinfo=UTC))
    booking = str(uuid.uuid4())
    async with engine.begin() as conn:
        old = await LEDGER.claim_slot(
            conn, slot_id=sid, quantity=old_party, now=T0, ttl=TTL, booking_id=booking
        )
    async with engine.begin() as conn:  # the slot is nearly full: only the difference must fit
        new = await LEDGER.claim_slot(
            conn,
            slot_id=sid,
            quantity=new_party,
            now=T0,
            ttl=TTL,
            booking_id=booking,
            claim_key=f"{booking}#2",
            replaces=old,
        )
    assert (await seats_taken(engine, sid))[0] == max(old_party, new_party)
    await _release(engine, old.id)  # the modification went through
    assert await seats_taken(engine, sid) == (new_party, new_party)
    await _release(engine, new.id)
    assert await seats_taken(engine, sid) == (0, 0)


async def test_a_replacing_claim_on_an_exclusive_unit_keeps_the_slot_blocked_either_way(
    engine,
) -> None:  # type: ignore[no-untyped-def]
    _, (a, b, _c, _d) = await a_meeting_room(engine, buffer_minutes=0)
    booking = str(uuid.uuid4())
    async with engine.begin() as conn:
        old = await LEDGER.claim_slot(
            conn, slot_id=a, quantity=1, now=T0, ttl=TTL, booking_id=booking
        )
        new = await LEDGER.claim_slot(
            conn,
            slot_id=a,
            quantity=1,
            now=T0,
            ttl=TTL,
            booking_id=booking,
            claim_key=f"{booking}#2",
            replaces=old,
        )
    assert not await try_slot(engine, b)
    await _release(engine, new.id)  # compensated: the old claim blocks the room again
    assert not await try_slot(engine, b)
    await _release(engine, old.id)
    assert await try_slot(engine, b)
