"""The waitlist over REST: join when a resource or slot is full, list and read your entries,
cancel one, and accept an offer (it becomes a booking through the create saga, with the offer's
hold). Offers are made by ``booking.handlers.waitlist_offers``. A guest sees and changes only
their own entries, staff their tenant's; anything else is 404."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from booking.adapters import waitlist
from booking.api.common import open_command, open_terms, opened_at, public
from booking.api.places import Places
from booking.api.schemas import (
    BookingCreate,
    BookingPublic,
    GuestIn,
    WaitlistAccept,
    WaitlistEntryPublic,
    WaitlistJoin,
)
from booking.settings import BookingSettings
from booking.usecases.open_booking import open_booking
from booking.usecases.rules import etag
from booking.usecases.unit_of_work import SqlUnitOfWork
from contracts.booking import WaitlistOfferAccepted
from contracts.topics import BOOKING_EVENTS
from service_kit.audit import actor_of
from service_kit.auth import BearerToken, Caller, Principal
from service_kit.clock import db_now
from service_kit.fields import PathId
from service_kit.ids import canonical_uuid
from service_kit.problems import Problem
from service_kit.quotas import GuestQuota
from service_kit.ratelimit import RATE_LIMITED
from service_kit.runtime import Wiring

WaitlistStatus = Literal["waiting", "offered", "accepted", "expired", "cancelled"]


def _public(row: Row[Any]) -> WaitlistEntryPublic:
    return WaitlistEntryPublic(**row._mapping)


def _missing(entry_id: str) -> Problem:
    return Problem(404, "waitlist-entry-not-found", "Not found", f"No waitlist entry {entry_id}.")


async def _visible(
    conn: AsyncConnection, entry_id: str, who: Principal, *, lock: bool = False
) -> Row[Any]:
    canonical = canonical_uuid(entry_id)
    row = await waitlist.load(conn, canonical, tenant=who.tenant, lock=lock) if canonical else None
    if row is None or (not who.is_staff and row.guest_id != who.subject):
        raise _missing(entry_id)
    return row


def entry_quota(settings: BookingSettings) -> GuestQuota:
    """Waiting entries per guest: at most BOOKING_GUEST_MAX_WAITLIST_ENTRIES (409
    waitlist-entry-quota-exceeded)."""
    return GuestQuota(
        name="waitlist-entry",
        limit=settings.guest_max_waitlist_entries,
        count_sql=(
            "SELECT count(*) FROM waitlist_entries WHERE tenant_id = :tenant "
            "AND guest_id = :guest AND status IN ('waiting', 'offered')"
        ),
        what="waitlist entries",
        remedy="Leave one first.",
    )


def router(wiring: Wiring, places: Places) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["waitlist"])
    engine = wiring.engine
    outbox = wiring.outbox
    settings = wiring.settings
    assert isinstance(settings, BookingSettings)

    @api.post(
        "/waitlist",
        status_code=201,
        response_model=WaitlistEntryPublic,
        dependencies=[RATE_LIMITED],
    )
    async def join(
        body: WaitlistJoin, who: Caller, bearer: BearerToken, response: Response
    ) -> WaitlistEntryPublic:
        """Wait for capacity. If some is free already, an offer follows at once; otherwise the
        entry is offered the first capacity released that fits its party."""
        if body.priority and not who.is_staff:
            raise Problem(403, "forbidden", "Forbidden", "Priority is set by staff.")
        if not who.is_staff and body.contact.id not in (None, who.subject):
            raise Problem(403, "forbidden", "Forbidden", "A guest waits only in their own name.")
        _, when = await places.resolve(
            body.resource_id,
            body.slot_id,
            body.check_in,
            body.check_out,
            bearer.credentials if bearer else None,
        )
        guest_id = (body.contact.id or who.subject) if who.is_staff else who.subject
        async with engine.begin() as conn:
            await entry_quota(settings).enforce(conn, who, guest_id)
            row = await waitlist.insert(
                conn,
                {
                    "tenant_id": who.tenant,
                    "guest_id": guest_id,
                    "resource_id": body.resource_id,
                    "slot_id": body.slot_id,
                    "check_in": when["check_in"],
                    "check_out": when["check_out"],
                    "party": body.party.model_dump(),
                    "priority": body.priority,
                    "contact": body.contact.model_dump(mode="json", exclude={"id"}),
                },
            )
            await waitlist.ask_for_offers(conn, outbox, [row], settings.waitlist_offer_s)
        response.headers["Location"] = f"/api/v1/waitlist/{row.id}"
        return _public(row)

    @api.get("/waitlist", response_model=list[WaitlistEntryPublic])
    async def list_entries(
        who: Caller,
        resource_id: Annotated[str | None, Query(max_length=64)] = None,
        status: Annotated[
            list[WaitlistStatus] | None, Query(max_length=len(get_args(WaitlistStatus)))
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[WaitlistEntryPublic]:
        """A guest's own entries; staff see their tenant's. In queue order."""
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    f"SELECT {waitlist.COLUMNS} FROM waitlist_entries WHERE tenant_id = :t "
                    "AND (CAST(:g AS text) IS NULL OR guest_id = :g) "
                    "AND (CAST(:r AS text) IS NULL OR resource_id = :r) "
                    "AND (CAST(:s AS text[]) IS NULL OR status = ANY(CAST(:s AS text[]))) "
                    "ORDER BY priority DESC, created_at, id LIMIT :n"
                ),
                {
                    "t": who.tenant,
                    "g": None if who.is_staff else who.subject,
                    "r": resource_id,
                    "s": status,
                    "n": limit,
                },
            )
            return [_public(r) for r in rows.all()]

    @api.get("/waitlist/{entry_id}", response_model=WaitlistEntryPublic)
    async def get_entry(entry_id: PathId, who: Caller) -> WaitlistEntryPublic:
        async with engine.connect() as conn:
            return _public(await _visible(conn, entry_id, who))

    @api.post(
        "/waitlist/{entry_id}/cancel",
        response_model=WaitlistEntryPublic,
        dependencies=[RATE_LIMITED],
    )
    async def cancel_entry(entry_id: PathId, who: Caller) -> WaitlistEntryPublic:
        """Stop waiting; an open offer is given up and its hold released for the next entry."""
        async with engine.begin() as conn:
            row = await _visible(conn, entry_id, who, lock=True)
            if row.status not in ("waiting", "offered"):
                raise Problem(
                    409,
                    "waitlist-entry-closed",
                    "The entry is closed",
                    f"A {row.status} entry cannot be cancelled.",
                    current_status=row.status,
                )
            if row.status == "offered":
                await waitlist.release_hold(conn, outbox, row)
            return _public(await waitlist.update(conn, row.id, status="cancelled"))

    @api.post(
        "/waitlist/{entry_id}/accept",
        status_code=202,
        response_model=BookingPublic,
        responses={409: {}},
        dependencies=[RATE_LIMITED],
    )
    async def accept_offer(
        entry_id: PathId,
        body: WaitlistAccept,
        who: Caller,
        bearer: BearerToken,
        request: Request,
    ) -> Response:
        """Book the offer before it expires: 202 + Location of the booking, which takes the
        offer's hold and is confirmed (or not) by the create saga like any other."""
        async with engine.connect() as conn:
            entry = await _visible(conn, entry_id, who)
        place, when = await places.resolve(
            entry.resource_id,
            entry.slot_id,
            None if entry.slot_id else entry.check_in,
            None if entry.slot_id else entry.check_out,
            bearer.credentials if bearer else None,
        )
        async with engine.begin() as conn:
            entry = await _visible(conn, entry_id, who, lock=True)
            now = await db_now(conn)
            if entry.status != "offered" or entry.offer_expires_at <= now:
                raise Problem(
                    409,
                    "no-open-offer",
                    "No open offer",
                    "The entry has no offer to accept (not made yet, expired or accepted).",
                    current_status=entry.status,
                    booking_id=entry.booking_id,
                )
            booking = BookingCreate(
                resource_id=entry.resource_id,
                check_in=None if entry.slot_id else entry.check_in,
                check_out=None if entry.slot_id else entry.check_out,
                slot_id=entry.slot_id,
                party=entry.party,
                guest=GuestIn(**entry.contact),
                payment_method=body.payment_method,
                hold_id=entry.hold_id,
                special_requests=body.special_requests,
                dietary_notes=body.dietary_notes,
                accessibility_notes=body.accessibility_notes,
            )
            command = open_command(booking, who, actor_of(request, who), entry.guest_id)
            row = await open_booking(
                SqlUnitOfWork(conn, outbox, settings),
                command,
                opened_at(place, when),
                open_terms(settings),
            )
            await waitlist.update(conn, entry.id, status="accepted", booking_id=row.id)
            await outbox.add(
                conn,
                topic=BOOKING_EVENTS,
                key=entry.id,
                message=WaitlistOfferAccepted(
                    entry_id=entry.id,
                    tenant_id=entry.tenant_id,
                    resource_id=entry.resource_id,
                    occurred_at=now,
                    booking_id=row.id,
                ),
            )
        return JSONResponse(
            public(row).model_dump(mode="json"),
            status_code=202,
            headers={"Location": f"/api/v1/bookings/{row.id}", "ETag": etag(row.version)},
        )

    return api
