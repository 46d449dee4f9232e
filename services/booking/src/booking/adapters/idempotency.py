"""``Idempotency-Key`` (IETF draft-ietf-httpapi-idempotency-key-header).

A key is claimed in a short transaction of its own before the work starts, then completed with
the response inside the work's transaction (so the response is stored if and only if the work
committed). Meanwhile another request with the key hears 409 (in flight); once completed, it
gets the stored response replayed; with another payload, 422. A request that fails releases its
key; one that dies holds it until its lease runs out. Keys expire after 24 hours and are
purged by a periodic job; an expired key is taken over by the next request that uses it.
Keys are scoped per tenant, caller and operation: two callers never share one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status_code: int | None
    body: Any
    booking_id: str | None


def fingerprint(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(
    engine: AsyncEngine, scope: str, key: str, request_hash: str, ttl_s: float, lease_s: float
) -> StoredResponse | None:
    """None when this request now owns the key; otherwise what is stored under it."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                text(
                    "INSERT INTO idempotency_keys (scope, key, request_hash, expires_at, "
                    "locked_until) VALUES (:s, :k, :h, now() + make_interval(secs => :ttl), "
                    "now() + make_interval(secs => :lease)) "
                    "ON CONFLICT (scope, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, "
                    "status_code = NULL, response = NULL, booking_id = NULL, created_at = now(), "
                    "expires_at = EXCLUDED.expires_at, locked_until = EXCLUDED.locked_until "
                    "WHERE idempotency_keys.expires_at < now() OR ("
                    "  idempotency_keys.status_code IS NULL "
                    "  AND idempotency_keys.locked_until < now()) "
                    "RETURNING key"
                ),
                {"s": scope, "k": key, "h": request_hash, "ttl": ttl_s, "lease": lease_s},
            )
        ).first()
        if row is not None:
            return None
        stored = (
            await conn.execute(
                text(
                    "SELECT request_hash, status_code, response, booking_id::text "
                    "FROM idempotency_keys WHERE scope = :s AND key = :k"
                ),
                {"s": scope, "k": key},
            )
        ).one()
    return StoredResponse(
        stored.request_hash, stored.status_code, stored.response, stored.booking_id
    )


async def complete(
    conn: AsyncConnection, scope: str, key: str, status_code: int, body: Any, booking_id: str
) -> None:
    """Store the response, in the work's transaction."""
    await conn.execute(
        text(
            "UPDATE idempotency_keys SET status_code = :c, response = CAST(:r AS jsonb), "
            "booking_id = :b, locked_until = NULL WHERE scope = :s AND key = :k"
        ),
        {
            "c": status_code,
            "r": json.dumps(body, default=str),
            "b": booking_id,
            "s": scope,
            "k": key,
        },
    )


async def release(engine: AsyncEngine, scope: str, key: str) -> None:
    """The work failed: the key is free again (only if no response was stored)."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "DELETE FROM idempotency_keys WHERE scope = :s AND key = :k AND status_code IS NULL"
            ),
            {"s": scope, "k": key},
        )


async def purge_expired(conn: AsyncConnection) -> int:
    result = await conn.execute(text("DELETE FROM idempotency_keys WHERE expires_at < now()"))
    return result.rowcount or 0
