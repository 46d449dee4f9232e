"""What bpctl reads from the services' databases: outbox health, and one booking's path
through every service (its outbox rows, who applied them and when, its saga log)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from messaging import tenancy
from service_kit.db import asyncpg_dsn


@dataclass(frozen=True)
class OutboxStatus:
    service: str
    pending: int
    oldest_age_s: float | None
    sent_last_hour: int
    set_aside: int = 0  # refused by Kafka until an operator retries (bpctl outbox held)


@dataclass(frozen=True)
class Step:
    at: datetime
    service: str
    what: str
    detail: str


async def _connect(url: str) -> asyncpg.Connection:
    """An operator's tool sees every tenant's rows (row-level security, messaging.tenancy)."""
    return await asyncpg.connect(
        asyncpg_dsn(url),
        timeout=10,
        server_settings={tenancy.SETTING: tenancy.EVERY_TENANT, "application_name": "bpctl"},
    )


async def _fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await _connect(url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def outbox_status(urls: dict[str, str]) -> list[OutboxStatus]:
    query = (
        "SELECT count(*) FILTER (WHERE sent_at IS NULL) AS pending, "
        "extract(epoch FROM now() - min(created_at) FILTER (WHERE sent_at IS NULL)) AS age, "
        "count(*) FILTER (WHERE sent_at > now() - interval '1 hour') AS sent, "
        "count(*) FILTER (WHERE sent_at IS NULL AND held_until = 'infinity') AS aside "
        "FROM outbox"
    )
    rows = await asyncio.gather(*(_fetch(urls[s], query) for s in urls))
    return [
        OutboxStatus(
            s,
            r[0]["pending"],
            float(r[0]["age"]) if r[0]["age"] is not None else None,
            r[0]["sent"],
            r[0]["aside"],
        )
        for s, r in zip(urls, rows, strict=True)
    ]


async def saga_timeline(urls: dict[str, str], booking: str) -> tuple[dict[str, Any], list[Step]]:
    """The booking (by id or reference) and every step of it, in time order."""
    found = await _fetch(
        urls["booking"],
        "SELECT id::text AS id, reference, status, created_at FROM bookings "
        "WHERE id::text = $1 OR reference = $1",
        booking,
    )
    if not found:
        raise LookupError(f"no booking {booking!r}")
    head = dict(found[0])
    booking_id = head["id"]
    steps: list[Step] = []
    history, log = await asyncio.gather(
        _fetch(
            urls["booking"],
            "SELECT at, from_status, to_status, actor, reason FROM booking_status_history "
            "WHERE booking_id::text = $1 ORDER BY id",
            booking_id,
        ),
        _fetch(
            urls["booking"],
            "SELECT at, kind, message_type, step, detail FROM saga_log "
            "WHERE booking_id::text = $1 ORDER BY id",
            booking_id,
        ),
    )
    for r in history:
        reason = f" ({r['reason']})" if r["reason"] else ""
        steps.append(
            Step(
                r["at"],
                "booking",
                "status",
                f"{r['from_status']} -> {r['to_status']}{reason} by {r['actor']}",
            )
        )
    for r in log:
        if r["kind"] == "note":
            steps.append(
                Step(r["at"], "booking", "saga", f"{r['step'] or ''} {r['detail'] or ''}".strip())
            )
    # Every message about the booking that any service wrote, and who applied it.
    outboxes = await asyncio.gather(
        *(
            _fetch(
                urls[s],
                "SELECT message_id::text AS id, topic, ce_type, created_at, sent_at FROM outbox "
                "WHERE key = $1 OR payload LIKE '%' || $1 || '%' ORDER BY id",
                booking_id,
            )
            for s in urls
        )
    )
    ids: dict[str, str] = {}
    for service, rows in zip(urls, outboxes, strict=True):
        for r in rows:
            ids[r["id"]] = r["ce_type"]
            steps.append(Step(r["created_at"], service, "wrote", f"{r['ce_type']} -> {r['topic']}"))
            if r["sent_at"] is not None:
                steps.append(
                    Step(r["sent_at"], service, "published", f"{r['ce_type']} -> {r['topic']}")
                )
    if ids:
        inboxes = await asyncio.gather(
            *(
                _fetch(
                    urls[s],
                    "SELECT consumer, message_id, ce_type, received_at FROM inbox "
                    "WHERE message_id = ANY($1::text[])",
                    list(ids),
                )
                for s in urls
            )
        )
        for service, rows in zip(urls, inboxes, strict=True):
            for r in rows:
                steps.append(
                    Step(r["received_at"], service, "applied", f"{r['ce_type']} ({r['consumer']})")
                )
    steps.sort(key=lambda s: s.at)
    return head, steps


@dataclass(frozen=True)
class ParkedSaga:
    booking_id: str
    reference: str
    tenant_id: str
    saga_type: str
    current_step: str
    parked_at: datetime
    why: str


async def parked_sagas(booking_url: str) -> list[ParkedSaga]:
    """Every parked saga, oldest first, with what stopped it (never guest data)."""
    rows = await _fetch(
        booking_url,
        "SELECT s.booking_id::text, b.reference, b.tenant_id, s.saga_type, s.current_step, "
        "s.updated_at, COALESCE(s.state->>'failure_reason', '') || "
        "CASE WHEN s.state->>'failure_detail' IS NULL THEN '' "
        "ELSE ': ' || (s.state->>'failure_detail') END AS why "
        "FROM sagas s JOIN bookings b ON b.id = s.booking_id WHERE s.status = 'parked' "
        "ORDER BY s.updated_at",
    )
    return [ParkedSaga(*r) for r in rows]


@dataclass(frozen=True)
class HeldRow:
    service: str
    id: int
    topic: str
    key: str
    ce_type: str
    attempts: int
    set_aside: bool
    last_error: str
    created_at: datetime


async def held_rows(urls: dict[str, str]) -> list[HeldRow]:
    """Outbox rows Kafka refused: held (retried with backoff) or set aside, per service."""
    query = (
        "SELECT id, topic, key, ce_type, attempts, held_until = 'infinity' AS aside, "
        "COALESCE(last_error, ''), created_at FROM outbox "
        "WHERE sent_at IS NULL AND held_until IS NOT NULL ORDER BY id"
    )
    results = await asyncio.gather(*(_fetch(urls[s], query) for s in urls))
    return [HeldRow(s, *r) for s, rows in zip(urls, results, strict=True) for r in rows]


async def retry_held(urls: dict[str, str], ids: list[int] | None) -> dict[str, int]:
    """Release refused rows (all, or those ``ids``) for the relay to send again, in key order;
    how many per service."""
    query = (
        "UPDATE outbox SET held_until = NULL, attempts = 0 "
        "WHERE sent_at IS NULL AND held_until IS NOT NULL "
        "AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[]))"
    )

    async def one(url: str) -> int:
        conn = await _connect(url)
        try:
            status = await conn.execute(query, ids)
            await conn.execute("SELECT pg_notify('outbox_wakeup', '')")
            return int(status.split()[-1])
        finally:
            await conn.close()

    counts = await asyncio.gather(*(one(urls[s]) for s in urls))
    return dict(zip(urls, counts, strict=True))
