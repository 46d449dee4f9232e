"""A database goes away while bookings flow: one service's database refuses connections and has
its sessions cut for 20 s (a failover of that service's own Postgres) while the others keep
sending it commands; then the whole server is stopped hard (``pg_ctl stop -m immediate``) and
started again. Nothing is dead-lettered, every saga ends, every booking is confirmed with what
it claims, and every guest gets each email once. (Once, within the one window no system can
close: the notifier's database crashing between the SMTP server's acceptance of a message and
the record of it; the copy sent again then has the same Message-ID, for the mailbox to fold.)"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import date, timedelta

import asyncpg
import httpx
import pytest

from contracts.topics import ALL_TOPICS
from devstack.client import PlatformClient
from devstack.mailsink import messages
from devstack.platform import Platform
from messaging import admin
from tests.support import invariants
from tests.support.db import fetch
from tests.support.load import Flow, terminal

pytestmark = pytest.mark.fault

BOOKINGS = 200


async def dlq_depth(platform: Platform) -> int:
    dlqs = [t.name for t in ALL_TOPICS if t.name.endswith(".dlq")]
    return sum(info.messages for info in await admin.topics(platform.bootstrap, dlqs))


def resources(client: PlatformClient, n: int = 4) -> list[str]:
    ids = []
    for _ in range(n):
        r = client.create_resource(f"Outage {uuid.uuid4().hex[:6]}", capacity=BOOKINGS)
        client.create_rate_plan(r["id"], "90.00", "EUR")
        ids.append(r["id"])
    return ids


async def check_everything(
    platform: Platform,
    client: PlatformClient,
    flow: Flow,
    resource_ids: list[str],
    dlq_before: int,
    resent_emails: int = 0,
) -> None:
    final = await terminal(platform, client.token or "", flow.ids, timeout=300)
    assert len(flow.ids) == BOOKINGS
    assert Counter(b["status"] for b in final.values()) == {"confirmed": BOOKINGS}
    urls = platform.database_urls
    invariants.bookings_keep_what_they_claim(urls, flow.ids)
    invariants.refunds_add_up(urls, flow.ids)
    invariants.ledger_agrees(urls, resource_ids)
    invariants.events_match_history(urls, flow.ids)
    invariants.sagas_on_time(urls, 10.0, flow.ids)
    assert await dlq_depth(platform) == dlq_before, "nothing may be dead-lettered"
    await emails_sent_once(platform, flow.ids, resent_emails)


async def emails_sent_once(
    platform: Platform, ids: list[str], resent: int, timeout: float = 120.0
) -> None:
    """One confirmation email per booking, delivered, one copy in the mailbox; at most
    ``resent`` sent twice (the notifier's own database crashed between send and record)."""
    notifier = platform.database_urls["notifier"]
    deadline = time.monotonic() + timeout
    while True:
        rows = fetch(
            notifier,
            "SELECT id::text, booking_id, status FROM notifications WHERE channel = 'email' "
            "AND event_type LIKE 'booking.confirmed%' AND booking_id = ANY($1::text[])",
            ids,
        )
        if len(rows) >= len(ids) and all(r["status"] == "delivered" for r in rows):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{Counter(r['status'] for r in rows)} of {len(ids)} emails")
        await asyncio.sleep(1.0)
    assert Counter(r["booking_id"] for r in rows) == dict.fromkeys(ids, 1)
    sent = Counter(m["Message-ID"] for m in messages(platform.maildir))
    copies = [sent[f"<{r['id']}@booking-platform>"] for r in rows]
    assert min(copies) == 1 and max(copies) <= 2, Counter(copies)
    assert sum(c - 1 for c in copies) <= resent, Counter(copies)


async def cut_database(admin_url: str, database: str, seconds: float) -> None:
    """The database refuses new connections and its sessions are cut, for ``seconds``."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                database,
            )
            await asyncio.sleep(1.0)
    finally:
        await conn.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        await conn.close()


async def test_a_service_database_away_for_20s_loses_nothing_and_dead_letters_nothing(
    faulty: Platform, faulty_client: PlatformClient
) -> None:
    ids = resources(faulty_client)
    before = await dlq_depth(faulty)
    flow = Flow(faulty, faulty_client.token or "", ids, date.today() + timedelta(days=200))
    assert faulty.postgres is not None
    admin_url = faulty.postgres.url("postgres")
    stalled, refused = [], []

    async def watch() -> None:
        """While the database is away: the worker says it is stalled, REST says 503."""
        async with httpx.AsyncClient(timeout=5.0) as http:
            for _ in range(40):
                ready = await http.get(f"{faulty.ops_url('inventory')}/readyz")
                if ready.status_code == 503:
                    stalled.append(ready.json()["checks"])
                api = await http.get(
                    f"{faulty.url('inventory')}/api/v1/resources/{ids[0]}",
                    headers={"Authorization": f"Bearer {faulty_client.token}"},
                )
                if api.status_code >= 500:
                    refused.append((api.status_code, api.headers.get("retry-after")))
                await asyncio.sleep(0.5)

    async def outage() -> None:
        await asyncio.sleep(5)
        await asyncio.gather(cut_database(admin_url, "inventory", 20), watch())

    await asyncio.gather(flow.run(BOOKINGS, rate_per_s=8), outage())
    await check_everything(faulty, faulty_client, flow, ids, before)
    assert stalled and any(c.get("database", "").startswith("unavailable") for c in stalled)
    assert refused and {code for code, _ in refused} == {503}
    assert all(after for _, after in refused), "every 503 says when to come back"


async def test_the_whole_server_stopped_hard_and_started_again_loses_nothing(
    faulty: Platform, faulty_client: PlatformClient
) -> None:
    ids = resources(faulty_client)
    before = await dlq_depth(faulty)
    flow = Flow(faulty, faulty_client.token or "", ids, date.today() + timedelta(days=400))
    postgres = faulty.postgres
    assert postgres is not None

    async def crash_and_recover() -> None:
        await asyncio.sleep(6)
        await asyncio.to_thread(postgres.crash)
        await asyncio.sleep(10)
        await asyncio.to_thread(postgres.start)

    await asyncio.gather(flow.run(BOOKINGS, rate_per_s=8), crash_and_recover())
    # The notifier's dispatcher sends up to its batch at once: those in flight at the crash.
    await check_everything(faulty, faulty_client, flow, ids, before, resent_emails=10)
    assert flow.refused[503] > 0, "the API refused work while its database was down"
