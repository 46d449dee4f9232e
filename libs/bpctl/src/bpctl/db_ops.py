"""What bpctl reads from the services' databases: outbox health, and one booking's path
through every service (its outbox rows, who applied them and when, its saga log)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from service_kit.db import asyncpg_dsn


@dataclass(frozen=True)
class OutboxStatus:
    service: str
    pending: int
    oldest_age_s: float | None
    sent_last_hour: int


@dataclass(frozen=True)
class Step:
    at: datetime
    service: str
    what: str
    detail: str


async def _fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def outbox_status(urls: dict[str, str]) -> list[OutboxStatus]:
    query = (
        "SELECT count(*) FILTER (WHERE sent_at IS NULL) AS pending, "
        "extract(epoch FROM now() - min(created_at) FILTER (WHERE sent_at IS NULL)) AS age, "
        "count(*) FILTER (WHERE sent_at > now() - interval '1 hour') AS sent "
        "FROM outbox"
    )
    rows = await asyncio.gather(*(_fetch(urls[s], query) for s in urls))
    return [
        OutboxStatus(
            s,
            r[0]["pending"],
            float(r[0]["age"]) if r[0]["age"] is not None else None,
            r[0]["sent"],
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
