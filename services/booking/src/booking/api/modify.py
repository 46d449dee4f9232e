"""Modify a confirmed booking: new dates (a stay), a new slot (a timeslot booking) or a new
party. The modify saga reserves the new capacity first (what it shares with the old claim counts
once), re-prices, settles the difference and only then releases the old capacity; the booking
stays ``confirmed`` throughout and shows the modification's progress. ``If-Match`` is required
(two concurrent modifications: one wins, the other gets 412) and an ``Idempotency-Key`` makes a
retried request safe."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from booking.adapters import lifecycle, orchestrator, repository
from booking.adapters.orchestrator import saga_data_of
from booking.api.common import Outcome, idempotent, public
from booking.api.places import Places
from booking.api.routes import LEASE_S
from booking.api.schemas import BookingPublic, ModifyIn, stay_error
from booking.domain.booking import BookingStatus
from booking.domain.saga_engine import start
from booking.domain.sagas import MODIFY_BOOKING
from booking.settings import BookingSettings
from booking.usecases.rules import busy, check_if_match, etag, visible
from service_kit.audit import actor_of
from service_kit.auth import BearerToken, Caller
from service_kit.clock import db_now
from service_kit.fields import IF_MATCH_MAX, PathId
from service_kit.problems import Problem
from service_kit.ratelimit import RATE_LIMITED
from service_kit.runtime import Wiring


def _bad(detail: str) -> Problem:
    return Problem(422, "invalid-modification", "Invalid modification", detail)


def router(wiring: Wiring, places: Places) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["bookings"])
    engine = wiring.engine
    outbox = wiring.outbox
    settings = wiring.settings
    assert isinstance(settings, BookingSettings)
    timing = settings.timing

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
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
        if_match: Annotated[str | None, Header(max_length=IF_MATCH_MAX)] = None,
    ) -> Response:
        """Change the dates, slot or party of a confirmed booking that has not started (202:
        follow the booking's ``modification``). Capacity for the new time is reserved first,
        the new price settled (a dearer booking is charged the new price and the old payment
        refunded; a cheaper one gets the difference back) and the old capacity released last.
        When anything fails before the new payment is taken, the booking stays as it was and
        ``modification.status`` is ``failed`` with the reason."""
        async with engine.connect() as conn:
            current = await visible(conn, booking_id, who)
        if current.slot_id is not None and (body.check_in or body.check_out):
            raise _bad("A timeslot booking moves to another slot_id, not to dates.")
        if current.slot_id is None and body.slot_id is not None:
            raise _bad("A stay changes its dates, not a slot.")
        check_in = body.check_in or (None if current.slot_id else current.check_in)
        check_out = body.check_out or (None if current.slot_id else current.check_out)
        error = stay_error(check_in, check_out) if check_in and check_out else None
        if error:
            raise _bad(error)
        slot_id = body.slot_id or current.slot_id
        place, when = await places.resolve(
            current.resource_id,
            slot_id,
            check_in,
            check_out,
            bearer.credentials if bearer else None,
        )
        party = body.party.model_dump() if body.party else dict(current.party)
        payload = body.model_dump(mode="json", exclude_none=True)
        actor = actor_of(request, who)

        async def work(conn: AsyncConnection) -> Outcome:
            row = await visible(conn, booking_id, who, lock=True)
            check_if_match(if_match, row, required=True)
            now = await db_now(conn)
            if row.status != BookingStatus.CONFIRMED:
                raise Problem(
                    409,
                    "not-modifiable",
                    "The booking cannot be modified",
                    f"Only a confirmed booking can be modified; this one is {row.status}.",
                    current_status=row.status,
                )
            if row.starts_at is not None and row.starts_at <= now:
                raise Problem(
                    409, "already-started", "The booking has started", "It can no longer move."
                )
            new: dict[str, Any] = {**when, "slot_id": slot_id, "party": party}
            if all(getattr(row, k) == v for k, v in new.items()):
                raise Problem(422, "nothing-to-change", "Nothing to change")
            if await repository.lock_active_saga(conn, row.id) is not None:
                raise busy()
            seq = await repository.next_saga_seq(conn, row.id)
            before = saga_data_of(row)
            data = replace(
                before,
                **new,
                timezone=place["timezone"],
                claim_key=f"{row.id}#{seq}",
                reservation_id=None,
                unit_id=None,
                quote_id=None,
                total_amount=None,
                payment_id=None,
                old_reservation_id=row.reservation_id,
                old_payment_id=row.payment_id,
                net_paid_before=before.net_paid,
                pay_by=now + timedelta(seconds=settings.payment_deadline_s),
                hold_seconds=settings.claim_hold_s,
            )
            modification = {
                "status": "in_progress",
                "requested": payload,
                "requested_at": now.isoformat(),
                "requested_by": who.subject,
            }
            row = await lifecycle.bookkeep(
                conn, row, {"modification": modification}, actor, "modify", bump=True
            )
            await orchestrator.begin(conn, outbox, row.id, start(MODIFY_BOOKING, data, seq), timing)
            return Outcome(202, public(row).model_dump(mode="json"), row.id)

        result = await idempotent(
            engine,
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

    return api
