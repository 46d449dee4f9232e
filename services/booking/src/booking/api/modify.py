"""Modify a confirmed booking: new dates (a stay), a new slot (a timeslot booking) or a new
party. The modify saga reserves the new capacity first (what it shares with the old claim counts
once), re-prices, settles the difference and only then releases the old capacity; the booking
stays ``confirmed`` throughout and shows the modification's progress. ``If-Match`` is required
(two concurrent modifications: one wins, the other gets 412) and an ``Idempotency-Key`` makes a
retried request safe. The rules are ``booking.usecases.modify``'s."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from booking.api.actions import IdempotencyKey, IfMatch
from booking.api.common import Outcome, Units, idempotent, public
from booking.api.places import PlacesDep
from booking.api.routes import LEASE_S
from booking.api.schemas import BookingPublic, ModifyIn
from booking.usecases import modify
from booking.usecases.rules import etag
from service_kit.audit import actor_of
from service_kit.auth import BearerToken, Caller
from service_kit.fields import PathId
from service_kit.ratelimit import RATE_LIMITED

api = APIRouter(prefix="/api/v1", tags=["bookings"])


@api.post(
    "/bookings/{booking_id}/modify",
    status_code=202,
    response_model=BookingPublic,
    responses={409: {}, 412: {}, 422: {}, 428: {}},
    dependencies=[RATE_LIMITED],
)
async def modify_booking(
    booking_id: PathId,
    body: ModifyIn,
    who: Caller,
    bearer: BearerToken,
    request: Request,
    units: Units,
    places: PlacesDep,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> Response:
    """Change the dates, slot or party of a confirmed booking that has not started (202:
    follow the booking's ``modification``). Capacity for the new time is reserved first,
    the new price settled (a dearer booking is charged the new price and the old payment
    refunded; a cheaper one gets the difference back) and the old capacity released last.
    When anything fails before the new payment is taken, the booking stays as it was and
    ``modification.status`` is ``failed`` with the reason."""
    payload = body.model_dump(mode="json", exclude_none=True)
    command = modify.ModifyBooking(
        booking_id=booking_id,
        who=who,
        actor=actor_of(request, who),
        if_match=if_match,
        check_in=body.check_in,
        check_out=body.check_out,
        slot_id=body.slot_id,
        party=body.party.model_dump() if body.party else None,
        requested=payload,
    )
    current = await units.read(booking_id, who)
    time = modify.new_time(current, command)
    place, when = await places.resolve(
        current.resource_id,
        time.slot_id,
        time.check_in,
        time.check_out,
        bearer.credentials if bearer else None,
    )
    settings = units.settings
    terms = modify.Terms(settings.payment_deadline_s, settings.claim_hold_s)

    async def work(conn: AsyncConnection) -> Outcome:
        booking = await modify.modify_booking(
            units.on(conn), command, when=when, timezone=place["timezone"], terms=terms
        )
        return Outcome(202, public(booking).model_dump(mode="json"), booking.id)

    result = await idempotent(
        units.engine,
        key=idempotency_key,
        scope=f"{who.tenant}:{who.subject}:POST /bookings/{booking_id}/modify",
        payload=payload,
        ttl_s=settings.idempotency_ttl_s,
        lease_s=LEASE_S,
        work=work,
    )
    if isinstance(result, JSONResponse):
        return result
    return JSONResponse(
        result.body,
        status_code=202,
        headers={
            "Location": f"/api/v1/bookings/{result.booking_id}",
            "ETag": etag(result.body["version"]),
        },
    )
