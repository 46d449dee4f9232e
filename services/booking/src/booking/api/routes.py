"""Booking REST for the gateway: create (202 + Location, Idempotency-Key, Prefer: wait=N),
read by id or reference, list, update details (If-Match), history, audit log and timeline.
Status actions live in ``booking.api.actions``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from booking.adapters import lifecycle, repository
from booking.api.admission import Admission
from booking.api.common import (
    Outcome,
    decode_cursor,
    encode_cursor,
    idempotent,
    open_command,
    open_terms,
    opened_at,
    public,
)
from booking.api.places import Places
from booking.api.schemas import (
    BookingCreate,
    BookingPatch,
    BookingPublic,
    BookingTimeline,
    SagaPublic,
    StatusChange,
    TimelineEntry,
)
from booking.api.waiting import StatusWaiters
from booking.domain.booking import IMMUTABLE, SETTLED, WAIT_ENDS, BookingStatus
from booking.settings import BookingSettings
from booking.usecases.open_booking import guest_of, open_booking
from booking.usecases.rules import check_if_match, etag, not_found, visible
from booking.usecases.unit_of_work import SqlUnitOfWork
from service_kit.audit import AuditEntry, actor_of
from service_kit.auth import BearerToken, Caller, Principal, Staff
from service_kit.db import raw_connector
from service_kit.fields import IF_MATCH_MAX, IsoDate, PathId
from service_kit.problems import Problem
from service_kit.ratelimit import RATE_LIMITED
from service_kit.runtime import Wiring

_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait=(\d+)")
# How long an Idempotency-Key stays claimed by a request that never finishes.
LEASE_S = 60.0


def _prefer_wait(prefer: str | None, cap: float) -> float:
    if not prefer:
        return 0.0
    match = _PREFER_WAIT.search(prefer)
    return min(float(match.group(1)), cap) if match else 0.0


def router(wiring: Wiring, places: Places) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["bookings"])
    engine = wiring.engine
    outbox = wiring.outbox
    settings = wiring.settings
    assert isinstance(settings, BookingSettings)
    admission = Admission(
        engine,
        settings.max_in_flight_sagas,
        max_late=settings.admission_max_late_sagas,
        late_after_s=settings.admission_late_after_s,
    )

    async def load_visible(booking_id: str, who: Principal) -> Any:
        async with engine.connect() as conn:
            return await visible(conn, booking_id, who)

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
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
        prefer: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Response:
        """Accept a booking and start its saga: 202 + Location. ``Prefer: wait=N`` waits up to N
        seconds: 201 when the saga has ended (confirmed, rejected, ...), 202 when it still runs
        or waits for the guest to pay (``awaiting_payment``, with ``payment_deadline``). 503
        with ``Retry-After`` while too many bookings are in progress (nothing is written)."""
        guest_id = guest_of(who, body.guest.id)
        place, when = await places.resolve(
            body.resource_id,
            body.slot_id,
            body.check_in,
            body.check_out,
            bearer.credentials if bearer else None,
        )
        payload = body.model_dump(mode="json")
        actor = actor_of(request, who)

        command = open_command(body, who, actor, guest_id)
        at, terms = opened_at(place, when), open_terms(settings)

        async def work(conn: Any) -> Outcome:
            await admission.admit()  # new work only: a replayed key still gets its answer
            row = await open_booking(SqlUnitOfWork(conn, outbox, settings), command, at, terms)
            return Outcome(202, public(row).model_dump(mode="json"), row.id)

        scope = f"{who.tenant}:{who.subject}:POST /bookings"
        result = await idempotent(
            engine,
            key=idempotency_key,
            scope=scope,
            payload=payload,
            ttl_s=settings.idempotency_ttl_s,
            lease_s=LEASE_S,
            work=work,
        )
        if isinstance(result, JSONResponse):
            return result
        location = {"Location": f"/api/v1/bookings/{result.booking_id}"}
        wait_s = _prefer_wait(prefer, settings.max_prefer_wait_s)
        if wait_s > 0:
            current = await wait_for_answer(result.booking_id, wait_s)
            if current is not None and current.status in WAIT_ENDS:
                code = 201 if current.status in SETTLED else 202
                return JSONResponse(
                    current.model_dump(mode="json"),
                    status_code=code,
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

    waiters = StatusWaiters(
        raw_connector(settings.database_url.get_secret_value(), settings.db_timeouts),
        settings.max_prefer_waiters,
    )

    async def wait_for_answer(booking_id: str, wait_s: float) -> BookingPublic | None:
        async def look() -> BookingPublic | None:
            async with engine.connect() as conn:
                row = await repository.load(conn, booking_id)
            return public(row) if row else None

        answer: BookingPublic | None = await waiters.wait(
            booking_id, wait_s, look, lambda b: b is not None and b.status in WAIT_ENDS
        )
        return answer

    @api.get("/bookings/{booking_id}", response_model=BookingPublic)
    async def get_booking(booking_id: PathId, who: Caller, response: Response) -> BookingPublic:
        """A booking; ``ETag`` is its version, for ``If-Match`` on changes."""
        row = await load_visible(booking_id, who)
        response.headers["ETag"] = etag(row.version)
        return public(row)

    @api.get("/bookings/reference/{reference}", response_model=BookingPublic)
    async def get_by_reference(reference: PathId, who: Caller, response: Response) -> BookingPublic:
        """A booking by its human-friendly reference (``BK-20261121-7K3QX9AB``)."""
        async with engine.connect() as conn:
            found = (
                await conn.execute(
                    text(
                        f"SELECT {repository.BOOKING_COLUMNS} FROM bookings "
                        "WHERE tenant_id = :t AND reference = :r"
                    ),
                    {"t": who.tenant, "r": reference.strip().upper()[:64]},
                )
            ).first()
        if found is None or (not who.is_staff and found.guest_id != who.subject):
            raise not_found(reference)
        response.headers["ETag"] = etag(found.version)
        return public(found)

    @api.get("/bookings", response_model=list[BookingPublic])
    async def list_bookings(
        request: Request,
        response: Response,
        who: Caller,
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
        if not who.is_staff:
            guest_id = who.subject
        after = decode_cursor(cursor) if cursor else None
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        f"SELECT {repository.BOOKING_COLUMNS} FROM bookings WHERE tenant_id = :t "
                        "AND (CAST(:st AS text[]) IS NULL OR status = ANY(CAST(:st AS text[]))) "
                        "AND (CAST(:g AS text) IS NULL OR guest_id = :g) "
                        "AND (CAST(:v AS text) IS NULL OR venue_id = :v) "
                        "AND (CAST(:r AS text) IS NULL OR resource_id = :r) "
                        "AND (CAST(:a AS date) IS NULL OR check_out > :a) "
                        "AND (CAST(:b AS date) IS NULL OR check_in < :b) "
                        "AND (CAST(:ca AS timestamptz) IS NULL "
                        "     OR (created_at, id) < (:ca, CAST(:ci AS uuid))) "
                        "ORDER BY created_at DESC, id DESC LIMIT :limit"
                    ),
                    {
                        "t": who.tenant,
                        "st": [s.value for s in status] if status else None,
                        "g": guest_id,
                        "v": venue_id,
                        "r": resource_id,
                        "a": start,
                        "b": end,
                        "ca": after[0] if after else None,
                        "ci": after[1] if after else None,
                        "limit": limit,
                    },
                )
            ).all()
        items = [public(r) for r in rows]
        if len(items) == limit:
            last = rows[-1]
            next_url = request.url.include_query_params(
                cursor=encode_cursor(last.created_at, last.id)
            )
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return items

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
        if_match: Annotated[str | None, Header(max_length=IF_MATCH_MAX)] = None,
    ) -> BookingPublic:
        """Change contact details and notes. ``If-Match`` with the booking's ETag is required
        (412 when it changed meanwhile, 428 without it). Bookings that ended are immutable."""
        changes = body.model_dump(exclude_unset=True)
        async with engine.begin() as conn:
            row = await visible(conn, booking_id, who, lock=True)
            check_if_match(if_match, row, required=True)
            if BookingStatus(row.status) in IMMUTABLE:
                raise Problem(
                    409,
                    "booking-immutable",
                    "The booking can no longer change",
                    f"A {row.status} booking is immutable.",
                    current_status=row.status,
                )
            fields: dict[str, Any] = {}
            if changes.get("guest"):
                fields["guest"] = {**row.guest, **changes.pop("guest")}
            fields |= {k: v for k, v in changes.items() if k != "guest"}
            if not fields:
                raise Problem(422, "nothing-to-change", "Nothing to change")
            changed = tuple(sorted({"guest" if k == "guest" else "notes" for k in fields}))
            row = await lifecycle.update(
                conn, outbox, row, fields, actor_of(request, who), changed=changed
            )
        response.headers["ETag"] = etag(row.version)
        return public(row)

    @api.get("/bookings/{booking_id}/history", response_model=list[StatusChange])
    async def history(booking_id: PathId, who: Caller) -> list[StatusChange]:
        """Every status transition: from, to, who, why, when, and the version it made."""
        async with engine.connect() as conn:
            row = await visible(conn, booking_id, who)
            rows = await repository.status_history(conn, row.id)
            return [StatusChange(**r._mapping) for r in rows]

    @api.get("/bookings/{booking_id}/audit", response_model=list[AuditEntry])
    async def audit_log(booking_id: PathId, who: Staff) -> list[AuditEntry]:
        """Every change: who, from where (IP, user agent), when, the values before and after."""
        async with engine.connect() as conn:
            row = await visible(conn, booking_id, who)
            rows = await conn.execute(
                text(
                    "SELECT at, action, actor, actor_roles, ip, user_agent, old, new "
                    "FROM booking_audit WHERE booking_id = :b ORDER BY id"
                ),
                {"b": row.id},
            )
            return [AuditEntry(**r._mapping) for r in rows]

    @api.get("/bookings/{booking_id}/timeline", response_model=BookingTimeline)
    async def timeline(booking_id: PathId, who: Staff) -> BookingTimeline:
        """Why the booking is where it is: its sagas, status history and every saga message."""
        async with engine.connect() as conn:
            found = await visible(conn, booking_id, who)
            history_rows = await repository.status_history(conn, found.id)
            messages = await conn.execute(
                text(
                    "SELECT at, kind, message_type, step, detail FROM saga_log "
                    "WHERE booking_id = :b ORDER BY id"
                ),
                {"b": found.id},
            )
            saga_rows = await conn.execute(
                text(
                    "SELECT id::text, seq, saga_type, status, current_step, deadline, "
                    "state->>'failure_reason' AS failure_reason FROM sagas "
                    "WHERE booking_id = :b ORDER BY seq"
                ),
                {"b": found.id},
            )
            sagas = [SagaPublic(**r._mapping) for r in saga_rows]
            return BookingTimeline(
                booking_id=found.id,
                status=found.status,
                saga_status=sagas[-1].status if sagas else None,
                sagas=sagas,
                history=[StatusChange(**r._mapping) for r in history_rows],
                messages=[TimelineEntry(**r._mapping) for r in messages],
            )

    return api
