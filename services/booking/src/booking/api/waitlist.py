"""The waitlist over REST: join when a resource or slot is full, list and read your entries,
cancel one, and accept an offer (it becomes a booking through the create saga, with the offer's
hold). Offers are made by ``booking.handlers.waitlist_offers``. A guest sees and changes only
their own entries, staff their tenant's; anything else is 404. The rules are
``booking.usecases.waitlist``'s."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Row

from booking.adapters import waitlist
from booking.api.common import Units, open_terms, opened_at, public
from booking.api.places import PlacesDep
from booking.api.schemas import (
    BookingPublic,
    WaitlistAccept,
    WaitlistEntryPublic,
    WaitlistJoin,
)
from booking.usecases import waitlist as usecases
from booking.usecases.rules import etag
from service_kit.audit import actor_of
from service_kit.auth import BearerToken, Caller
from service_kit.fields import PathId
from service_kit.ratelimit import RATE_LIMITED

WaitlistStatus = Literal["waiting", "offered", "accepted", "expired", "cancelled"]

api = APIRouter(prefix="/api/v1", tags=["waitlist"])


def _public(row: Row[Any]) -> WaitlistEntryPublic:
    return WaitlistEntryPublic(**row._mapping)


@api.post(
    "/waitlist",
    status_code=201,
    response_model=WaitlistEntryPublic,
    dependencies=[RATE_LIMITED],
)
async def join(
    body: WaitlistJoin,
    who: Caller,
    bearer: BearerToken,
    response: Response,
    units: Units,
    places: PlacesDep,
) -> WaitlistEntryPublic:
    """Wait for capacity. If some is free already, an offer follows at once; otherwise the
    entry is offered the first capacity released that fits its party."""
    usecases.waiter_of(who, body.contact.id, body.priority)  # refused before inventory is asked
    _, when = await places.resolve(
        body.resource_id,
        body.slot_id,
        body.check_in,
        body.check_out,
        bearer.credentials if bearer else None,
    )
    command = usecases.JoinWaitlist(
        who=who,
        guest_id=body.contact.id,
        resource_id=body.resource_id,
        slot_id=body.slot_id,
        check_in=when["check_in"],
        check_out=when["check_out"],
        party=body.party.model_dump(),
        priority=body.priority,
        contact=body.contact.model_dump(mode="json", exclude={"id"}),
    )
    async with units.begin() as uow:
        entry = await usecases.join_waitlist(uow, command, units.settings.waitlist_offer_s)
    response.headers["Location"] = f"/api/v1/waitlist/{entry.id}"
    return _public(entry)


@api.get("/waitlist", response_model=list[WaitlistEntryPublic])
async def list_entries(
    who: Caller,
    units: Units,
    resource_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[
        list[WaitlistStatus] | None, Query(max_length=len(get_args(WaitlistStatus)))
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[WaitlistEntryPublic]:
    """A guest's own entries; staff see their tenant's. In queue order."""
    async with units.engine.connect() as conn:
        rows = await waitlist.listed(
            conn,
            tenant=who.tenant,
            guest_id=None if who.is_staff else who.subject,
            resource_id=resource_id,
            statuses=list(status) if status else None,
            limit=limit,
        )
    return [_public(r) for r in rows]


@api.get("/waitlist/{entry_id}", response_model=WaitlistEntryPublic)
async def get_entry(entry_id: PathId, who: Caller, units: Units) -> WaitlistEntryPublic:
    return _public(await units.read_entry(entry_id, who))


@api.post(
    "/waitlist/{entry_id}/cancel",
    response_model=WaitlistEntryPublic,
    dependencies=[RATE_LIMITED],
)
async def cancel_entry(entry_id: PathId, who: Caller, units: Units) -> WaitlistEntryPublic:
    """Stop waiting; an open offer is given up and its hold released for the next entry."""
    async with units.begin() as uow:
        entry = await usecases.leave_waitlist(
            uow, usecases.LeaveWaitlist(entry_id=entry_id, who=who)
        )
    return _public(entry)


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
    units: Units,
    places: PlacesDep,
) -> Response:
    """Book the offer before it expires: 202 + Location of the booking, which takes the
    offer's hold and is confirmed (or not) by the create saga like any other."""
    entry = await units.read_entry(entry_id, who)
    place, when = await places.resolve(
        entry.resource_id,
        entry.slot_id,
        None if entry.slot_id else entry.check_in,
        None if entry.slot_id else entry.check_out,
        bearer.credentials if bearer else None,
    )
    command = usecases.AcceptOffer(
        entry_id=entry_id,
        who=who,
        actor=actor_of(request, who),
        payment_method=body.payment_method,
        special_requests=body.special_requests,
        dietary_notes=body.dietary_notes,
        accessibility_notes=body.accessibility_notes,
    )
    async with units.begin() as uow:
        row = await usecases.accept_offer(
            uow, command, opened_at(place, when), open_terms(units.settings)
        )
    return JSONResponse(
        public(row).model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/api/v1/bookings/{row.id}", "ETag": etag(row.version)},
    )
