"""``Idempotency-Key`` (IETF draft-ietf-httpapi-idempotency-key-header) storage.

The key row is inserted first in the transaction that does the work and completed with the
response in the same transaction. A concurrent request with the same key blocks on the key's
primary key until the first commits, then replays its response: one booking, never two.
An expired key is taken over by the next request that uses it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


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
    conn: AsyncConnection, scope: str, key: str, request_hash: str, ttl_s: float
) -> StoredResponse | None:
    """None when this request owns the key; otherwise what is stored under it."""
    row = (
        await conn.execute(
            text(
                "INSERT INTO idempotency_keys (scope, key, request_hash, expires_at) "
                "VALUES (:s, :k, :h, now() + make_interval(secs => :ttl)) "
                "ON CONFLICT (scope, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, "
                "status_code = NULL, response = NULL, booking_id = NULL, created_at = now(), "
                "expires_at = EXCLUDED.expires_at WHERE idempotency_keys.expires_at < now() "
                "RETURNING key"
            ),
            {"s": scope, "k": key, "h": request_hash, "ttl": ttl_s},
        )
    ).first()
    if row is not None:
        return None
    stored = (
        await conn.execute(
            text(
                "SELECT request_hash, status_code, response, booking_id::text FROM idempotency_keys "
                "WHERE scope = :s AND key = :k"
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
    await conn.execute(
        text(
            "UPDATE idempotency_keys SET status_code = :c, response = CAST(:r AS jsonb), "
            "booking_id = :b WHERE scope = :s AND key = :k"
        ),
        {
            "c": status_code,
            "r": json.dumps(body, default=str),
            "b": booking_id,
            "s": scope,
            "k": key,
        },
    )


async def purge_expired(conn: AsyncConnection) -> int:
    result = await conn.execute(text("DELETE FROM idempotency_keys WHERE expires_at < now()"))
    return result.rowcount or 0
