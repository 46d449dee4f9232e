"""Booking REST for the gateway: create (202 + Location, Idempotency-Key, Prefer: wait=N),
read by id or reference, list, update details (If-Match), history, audit log and timeline.
Status actions live in ``booking.api.actions``, modifications in ``booking.api.modify``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from booking.adapters import queries, repository
from booking.api.common import (
    AdmissionDep,
    Outcome,
    Units,
    WaitersDep,
    decode_cursor,
    encode_cursor,
    idempotent,
    open_command,
    open_terms,
    opened_at,
    public,
)
from booking.api.places import PlacesDep
from booking.api.schemas import (
    BookingCreate,
    BookingPatch,
    BookingPublic,
    BookingTimeline,
    SagaPublic,
    StatusChange,
    TimelineEntry,
)
from booking.domain.booking import SETTLED, WAIT_ENDS, BookingStatus
from booking.usecases.open_booking import guest_of, open_booking
from booking.usecases.rules import check_visible, etag
from booking.usecases.update_details import UpdateDetails, update_details
from service_kit.audit import AuditEntry, actor_of
from service_kit.auth import BearerToken, Caller, Staff
from service_kit.fields import IF_MATCH_MAX, IsoDate, PathId
from service_kit.problems import Problem
from service_kit.ratelimit import RATE_LIMITED

_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait=(\d+)")
# How long an Idempotency-Key stays claimed by a request that never finishes.
LEASE_S = 60.0

api = APIRouter(prefix="/api/v1", tags=["bookings"])


def _prefer_wait(prefer: str | None, cap: float) -> float:
    if not prefer:
        return 0.0
    match = _PREFER_WAIT.search(prefer)
    return min(float(match.group(1)), cap) if match else 0.0


@api.post(
    "/bookings",
    status_code=202,
    response_model=BookingPublic,
    responses={201: {"model": BookingPublic}, 409: {}, 422: {}, 503: {}},
    dependencies=[RATE_LIMITED],
)
async def create_booking(
    body: BookingCreate,
    who: Caller,
    bearer: BearerToken,
    request: Request,
    units: Units,
    places: PlacesDep,
    admission: AdmissionDep,
    waiters: WaitersDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    prefer: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Accept a booking and start its saga: 202 + Location. ``Prefer: wait=N`` waits up to N
    seconds: 201 when the saga has ended (confirmed, rejected, ...), 202 when it still runs
    or waits for the guest to pay (``awaiting_payment``, with ``payment_deadline``). 503
    with ``Retry-After`` while too many bookings are in progress (nothing is written)."""
    command = open_command(body, who, actor_of(request, who), guest_of(who, body.guest.id))
    place, when = await places.resolve(
        body.resource_id,
        body.slot_id,
        body.check_in,
        body.check_out,
        bearer.credentials if bearer else None,
    )
    settings = units.settings
    at, terms = opened_at(place, when), open_terms(settings)

    async def work(conn: AsyncConnection) -> Outcome:
        await admission.admit()  # new work only: a replayed key still gets its answer
        booking = await open_booking(units.on(conn), command, at, terms)
        return Outcome(202, public(booking).model_dump(mode="json"), booking.id)

    result = await idempotent(
        units.engine,
        key=idempotency_key,
        scope=f"{who.tenant}:{who.subject}:POST /bookings",
        payload=body.model_dump(mode="json"),
        ttl_s=settings.idempotency_ttl_s,
        lease_s=LEASE_S,
        work=work,
    )
    if isinstance(result, JSONResponse):
        return result
    location = {"Location": f"/api/v1/bookings/{result.booking_id}"}
    wait_s = _prefer_wait(prefer, settings.max_prefer_wait_s)
    if wait_s > 0:

        async def look() -> BookingPublic | None:
            async with units.engine.connect() as conn:
                found = await repository.load(conn, result.booking_id)
            return public(found) if found else None

        current: BookingPublic | None = await waiters.wait(
            result.booking_id, wait_s, look, lambda b: b is not None and b.status in WAIT_ENDS
        )
        if current is not None and current.status in WAIT_ENDS:
            return JSONResponse(
                current.model_dump(mode="json"),
                status_code=201 if current.status in SETTLED else 202,
                headers={
                    **location,
                    "ETag": etag(current.version),
                    "Preference-Applied": f"wait={int(wait_s)}",
                },
            )
    return JSONResponse(
        result.body,
        status_code=202,
        headers={**location, "ETag": etag(result.body["version"])},
    )


@api.get("/bookings/{booking_id}", response_model=BookingPublic)
async def get_booking(
    booking_id: PathId, who: Caller, response: Response, units: Units
) -> BookingPublic:
    """A booking; ``ETag`` is its version, for ``If-Match`` on changes."""
    booking = await units.read(booking_id, who)
    response.headers["ETag"] = etag(booking.version)
    return public(booking)


@api.get("/bookings/reference/{reference}", response_model=BookingPublic)
async def get_by_reference(
    reference: PathId, who: Caller, response: Response, units: Units
) -> BookingPublic:
    """A booking by its human-friendly reference (``BK-20261121-7K3QX9AB``)."""
    async with units.engine.connect() as conn:
        found = await queries.by_reference(conn, who.tenant, reference.strip().upper()[:64])
    booking = check_visible(found, reference, who)
    response.headers["ETag"] = etag(booking.version)
    return public(booking)


@api.get("/bookings", response_model=list[BookingPublic])
async def list_bookings(
    request: Request,
    response: Response,
    who: Caller,
    units: Units,
    status: Annotated[list[BookingStatus] | None, Query(max_length=len(BookingStatus))] = None,
    guest_id: Annotated[str | None, Query(max_length=200)] = None,
    venue_id: Annotated[str | None, Query(max_length=64)] = None,
    resource_id: Annotated[str | None, Query(max_length=64)] = None,
    start: Annotated[
        IsoDate | None, Query(alias="from", description="bookings ending after this date")
    ] = None,
    end: Annotated[
        IsoDate | None, Query(alias="to", description="bookings starting before this date")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> list[BookingPublic]:
    """Newest first, with filters. A guest sees only their own bookings. A full page has a
    ``Link: <...>; rel="next"`` header with an opaque cursor."""
    if start is not None and end is not None and end <= start:
        raise Problem(422, "bad-range", "Bad date range", "'to' must be after 'from'.")
    wanted = queries.BookingFilter(
        tenant=who.tenant,
        statuses=[s.value for s in status] if status else None,
        guest_id=guest_id if who.is_staff else who.subject,
        venue_id=venue_id,
        resource_id=resource_id,
        ending_after=start,
        starting_before=end,
        after=decode_cursor(cursor) if cursor else None,
        limit=limit,
    )
    async with units.engine.connect() as conn:
        rows = await queries.listed(conn, wanted)
    if len(rows) == limit:
        last = rows[-1]
        next_url = request.url.include_query_params(cursor=encode_cursor(last.created_at, last.id))
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return [public(r) for r in rows]


@api.patch(
    "/bookings/{booking_id}",
    response_model=BookingPublic,
    responses={409: {}, 412: {}, 428: {}},
    dependencies=[RATE_LIMITED],
)
async def update_booking(
    booking_id: PathId,
    body: BookingPatch,
    who: Caller,
    request: Request,
    response: Response,
    units: Units,
    if_match: Annotated[str | None, Header(max_length=IF_MATCH_MAX)] = None,
) -> BookingPublic:
    """Change contact details and notes. ``If-Match`` with the booking's ETag is required
    (412 when it changed meanwhile, 428 without it). Bookings that ended are immutable."""
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    command = UpdateDetails(
        booking_id=booking_id,
        who=who,
        actor=actor_of(request, who),
        if_match=if_match,
        guest=changes.pop("guest", None),
        notes=changes,
    )
    async with units.begin() as uow:
        booking = await update_details(uow, command)
    response.headers["ETag"] = etag(booking.version)
    return public(booking)


@api.get("/bookings/{booking_id}/history", response_model=list[StatusChange])
async def history(booking_id: PathId, who: Caller, units: Units) -> list[StatusChange]:
    """Every status transition: from, to, who, why, when, and the version it made."""
    booking = await units.read(booking_id, who)
    async with units.engine.connect() as conn:
        rows = await repository.status_history(conn, booking.id)
    return [StatusChange(**r._mapping) for r in rows]


@api.get("/bookings/{booking_id}/audit", response_model=list[AuditEntry])
async def audit_log(booking_id: PathId, who: Staff, units: Units) -> list[AuditEntry]:
    """Every change: who, from where (IP, user agent), when, the values before and after."""
    booking = await units.read(booking_id, who)
    async with units.engine.connect() as conn:
        rows = await queries.audit_entries(conn, booking.id)
    return [AuditEntry(**r._mapping) for r in rows]


@api.get("/bookings/{booking_id}/timeline", response_model=BookingTimeline)
async def timeline(booking_id: PathId, who: Staff, units: Units) -> BookingTimeline:
    """Why the booking is where it is: its sagas, status history and every saga message."""
    booking = await units.read(booking_id, who)
    async with units.engine.connect() as conn:
        history_rows = await repository.status_history(conn, booking.id)
        messages = await queries.saga_log(conn, booking.id)
        sagas = [SagaPublic(**r._mapping) for r in await queries.sagas(conn, booking.id)]
    return BookingTimeline(
        booking_id=booking.id,
        status=booking.status,
        saga_status=sagas[-1].status if sagas else None,
        sagas=sagas,
        history=[StatusChange(**r._mapping) for r in history_rows],
        messages=[TimelineEntry(**r._mapping) for r in messages],
    )
