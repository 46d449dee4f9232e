"""What every booking route shares: who may see a booking, versions as ETags, the
Idempotency-Key protocol, and the public shape of a booking."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from booking.adapters import idempotency, repository
from booking.api.schemas import BookingPublic
from booking.domain.booking import IllegalTransition
from contracts.base import Money
from service_kit.auth import Principal
from service_kit.ids import canonical_uuid
from service_kit.problems import Problem


def not_found(booking_id: str) -> Problem:
    return Problem(404, "booking-not-found", "Booking not found", f"No booking {booking_id}.")


def public(row: Row[Any]) -> BookingPublic:
    data = dict(row._mapping)
    amount, currency = data.pop("total_amount"), data.pop("currency")
    paid, refunded = data.pop("paid_amount"), data.pop("refunded_amount")
    data.pop("tenant_id", None)

    def money(value: Any) -> Money | None:
        return Money.of(value, currency) if value is not None and currency else None

    return BookingPublic(**data, total=money(amount), paid=money(paid), refunded=money(refunded))


def etag(version: int) -> str:
    return f'"{version}"'


async def visible(
    conn: AsyncConnection, booking_id: str, who: Principal, *, lock: bool = False
) -> Row[Any]:
    """The booking, if the caller may see it: of the caller's tenant and, for a guest, their
    own. Anything else is the same 404 as an id that does not exist."""
    canonical = canonical_uuid(booking_id)
    row = (
        await repository.load(conn, canonical, lock=lock, tenant=who.tenant) if canonical else None
    )
    if row is None or (not who.is_staff and row.guest_id != who.subject):
        raise not_found(booking_id)
    return row


def check_if_match(if_match: str | None, row: Row[Any], *, required: bool) -> None:
    """Optimistic locking: ``If-Match`` must name the booking's current version (its ETag)."""
    if if_match is None:
        if required:
            raise Problem(
                428,
                "precondition-required",
                "If-Match required",
                "Send If-Match with the booking's ETag (its version) to change it.",
            )
        return
    tags = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if "*" not in tags and etag(row.version) not in tags:
        raise Problem(
            412,
            "version-mismatch",
            "The booking changed",
            f"The booking is at version {row.version}; read it again and retry.",
            current_version=row.version,
        )


def illegal(exc: IllegalTransition) -> Problem:
    return Problem(
        409,
        "illegal-transition",
        "Not possible in this status",
        f"A {exc.current.value} booking cannot become {exc.wanted.value}.",
        current_status=exc.current.value,
        allowed=[s.value for s in exc.allowed],
    )


def busy() -> Problem:
    return Problem(
        409,
        "booking-busy",
        "Another change is in progress",
        "The booking has an operation in progress; try again when it has finished.",
        headers={"Retry-After": "1"},
    )


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    booking_id: str


async def idempotent(
    engine: AsyncEngine,
    *,
    key: str | None,
    scope: str,
    payload: Any,
    ttl_s: float,
    lease_s: float,
    work: Callable[[AsyncConnection], Awaitable[Outcome]],
) -> JSONResponse | Outcome:
    """Run ``work`` in a transaction under the Idempotency-Key protocol (no key: just run it).
    Returns the outcome, or the stored response to replay."""
    if key is None:
        async with engine.begin() as conn:
            return await work(conn)
    if not key.strip():
        raise Problem(400, "bad-idempotency-key", "Empty Idempotency-Key")
    digest = idempotency.fingerprint(payload)
    stored = await idempotency.claim(engine, scope, key, digest, ttl_s, lease_s)
    if stored is not None:
        if stored.request_hash != digest:
            raise Problem(
                422,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "This key was used with a different request.",
            )
        if stored.status_code is None or stored.booking_id is None:
            raise Problem(
                409,
                "request-in-progress",
                "Request in progress",
                "A request with this Idempotency-Key is still being processed.",
                headers={"Retry-After": "1"},
            )
        return JSONResponse(
            stored.body,
            status_code=stored.status_code,
            headers={
                "Location": f"/api/v1/bookings/{stored.booking_id}",
                "Idempotent-Replayed": "true",
            },
        )
    try:
        async with engine.begin() as conn:
            outcome = await work(conn)
            await idempotency.complete(
                conn, scope, key, outcome.status, outcome.body, outcome.booking_id
            )
    except BaseException:
        await idempotency.release(engine, scope, key)
        raise
    return outcome


def encode_cursor(created_at: datetime, booking_id: str) -> str:
    raw = f"{created_at.isoformat()}|{booking_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    bad = Problem(400, "bad-cursor", "Bad cursor", "The cursor is not valid.")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, booking_id = raw.split("|", 1)
        at = datetime.fromisoformat(stamp)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    canonical = canonical_uuid(booking_id)
    if canonical is None or at.tzinfo is None:
        raise bad
    return at, canonical
