"""What every booking route shares: the Idempotency-Key protocol, list cursors and the public
shape of a booking (who may see a booking and its versions are ``booking.usecases.rules``)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import JSONResponse
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from booking.adapters import idempotency
from booking.adapters.admission import Admission
from booking.adapters.waiting import StatusWaiters
from booking.api.schemas import BookingCreate, BookingPublic
from booking.settings import BookingSettings
from booking.usecases import open_booking
from booking.usecases.rules import etag
from booking.usecases.unit_of_work import UnitsOfWork
from contracts.base import Money
from service_kit.audit import Actor
from service_kit.auth import Principal
from service_kit.ids import canonical_uuid
from service_kit.problems import Problem
from service_kit.runtime import AppWiring


def public(row: Row[Any]) -> BookingPublic:
    data = dict(row._mapping)
    amount, currency = data.pop("total_amount"), data.pop("currency")
    paid, refunded = data.pop("paid_amount"), data.pop("refunded_amount")
    data.pop("tenant_id", None)

    def money(value: Any) -> Money | None:
        return Money.of(value, currency) if value is not None and currency else None

    return BookingPublic(**data, total=money(amount), paid=money(paid), refunded=money(refunded))


def units_of_work(wiring: AppWiring) -> UnitsOfWork:
    settings = wiring.settings
    assert isinstance(settings, BookingSettings)
    return UnitsOfWork(wiring.engine, wiring.outbox, settings)


# The booking service's units of work, for a route: ``async with units.begin() as uow``.
Units = Annotated[UnitsOfWork, Depends(units_of_work)]


def admission_of(wiring: AppWiring) -> Admission:
    return wiring.of(Admission)


# The web process's one admission control (its count is read at most once a second).
AdmissionDep = Annotated[Admission, Depends(admission_of)]


def waiters_of(wiring: AppWiring) -> StatusWaiters:
    return wiring.of(StatusWaiters)


# The web process's one listener for booking status changes (``Prefer: wait``).
WaitersDep = Annotated[StatusWaiters, Depends(waiters_of)]


def answer(booking: Row[Any]) -> JSONResponse:
    """The booking as stored, with its version as the ETag."""
    return JSONResponse(
        public(booking).model_dump(mode="json"), headers={"ETag": etag(booking.version)}
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


def open_command(
    body: BookingCreate, who: Principal, actor: Actor, guest_id: str
) -> open_booking.OpenBooking:
    """``POST /bookings``'s body (or an accepted offer's), as the open-booking command."""
    return open_booking.OpenBooking(
        who=who,
        actor=actor,
        guest_id=guest_id,
        resource_id=body.resource_id,
        slot_id=body.slot_id,
        party=body.party.model_dump(mode="json"),
        contact=body.guest.model_dump(mode="json", exclude={"id"}),
        payment_method=body.payment_method,
        special_requests=body.special_requests,
        dietary_notes=body.dietary_notes,
        accessibility_notes=body.accessibility_notes,
        hold_id=body.hold_id,
    )


def opened_at(place: dict[str, Any], when: dict[str, Any]) -> open_booking.Place:
    """What ``Places.resolve`` answered, as the open-booking use case takes it."""
    return open_booking.Place(
        venue_id=place["venue_id"], timezone=place["timezone"], name=place.get("name"), when=when
    )


def open_terms(settings: BookingSettings) -> open_booking.Terms:
    return open_booking.Terms(settings.payment_deadline_s, settings.claim_hold_s)
