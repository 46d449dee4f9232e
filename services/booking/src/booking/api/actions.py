"""Status actions on a booking: cancel (guest or staff), check-in, complete, no-show and
payment verification (staff), and the operator's retry of a parked saga.

Every action locks the booking, checks the status machine (409 with the allowed transitions
when it forbids the action) and, when ``If-Match`` is sent, the version (412). Cancel takes an
``Idempotency-Key``. The rules are the use cases' (``booking.usecases``); a route parses, calls
one and answers with the booking.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from booking.api.common import Outcome, Units, answer, idempotent, public
from booking.api.routes import LEASE_S
from booking.api.schemas import BookingPublic, CancelIn, StatusActionIn
from booking.usecases import transitions
from booking.usecases.cancel import CancelBooking, cancel_booking
from booking.usecases.commands import OnBooking
from booking.usecases.no_show import MarkNoShow, mark_no_show
from booking.usecases.retry_saga import RetrySaga, retry_parked_saga
from booking.usecases.rules import etag
from booking.usecases.unit_of_work import UnitOfWork, UnitsOfWork
from booking.usecases.verify_payment import VerifyTransfer, verify_transfer
from service_kit.audit import actor_of
from service_kit.auth import Admin, Caller, Principal, Staff
from service_kit.fields import IF_MATCH_MAX, PathId
from service_kit.ratelimit import RATE_LIMITED

api = APIRouter(prefix="/api/v1", tags=["booking actions"])
C = TypeVar("C", bound=OnBooking)


def _on(booking_id: str, who: Principal, request: Request, if_match: str | None) -> dict[str, Any]:
    """What every command on a booking names, from the request."""
    return {
        "booking_id": booking_id,
        "who": who,
        "actor": actor_of(request, who),
        "if_match": if_match,
    }


def _reason(body: StatusActionIn | None) -> str | None:
    return body.reason if body else None


async def _run(
    units: UnitsOfWork, use_case: Callable[[UnitOfWork, C], Awaitable[Row[Any]]], command: C
) -> JSONResponse:
    """``use_case`` in a unit of work of its own; the booking as it became, with its ETag."""
    async with units.begin() as uow:
        booking = await use_case(uow, command)
    return answer(booking)


IfMatch = Annotated[str | None, Header(max_length=IF_MATCH_MAX)]
IdempotencyKey = Annotated[str | None, Header(max_length=255)]


@api.post(
    "/bookings/{booking_id}/cancel",
    response_model=BookingPublic,
    responses={409: {}, 412: {}, 422: {}},
    dependencies=[RATE_LIMITED],
)
async def cancel(
    booking_id: PathId,
    who: Caller,
    request: Request,
    units: Units,
    body: CancelIn | None = None,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> Response:
    """Cancel: the booking is ``cancelled`` at once; its capacity is released and the refund
    its cancellation policy snapshot allows is paid back by the cancel saga, which then
    moves it to ``refunded``. A guest cancels only their own bookings, and not once checked
    in."""
    command = CancelBooking(
        booking_id=booking_id,
        who=who,
        actor=actor_of(request, who),
        if_match=if_match,
        reason=(body or CancelIn()).reason,
    )

    async def work(conn: AsyncConnection) -> Outcome:
        booking = await cancel_booking(units.on(conn), command)
        return Outcome(200, public(booking).model_dump(mode="json"), booking.id)

    result = await idempotent(
        units.engine,
        key=idempotency_key,
        scope=f"{who.tenant}:{who.subject}:POST /bookings/{booking_id}/cancel",
        payload={"reason": command.reason},
        ttl_s=units.settings.idempotency_ttl_s,
        lease_s=LEASE_S,
        work=work,
    )
    if isinstance(result, JSONResponse):
        return result
    return JSONResponse(result.body, headers={"ETag": etag(result.body["version"])})


@api.post("/bookings/{booking_id}/check-in", response_model=BookingPublic)
async def check_in(
    booking_id: PathId,
    who: Staff,
    request: Request,
    units: Units,
    body: StatusActionIn | None = None,
    if_match: IfMatch = None,
) -> Response:
    """Staff: the guest arrived (``confirmed`` → ``checked_in``)."""
    command = transitions.CheckIn(**_on(booking_id, who, request, if_match), reason=_reason(body))
    return await _run(units, transitions.move, command)


@api.post("/bookings/{booking_id}/complete", response_model=BookingPublic)
async def complete(
    booking_id: PathId,
    who: Staff,
    request: Request,
    units: Units,
    body: StatusActionIn | None = None,
    if_match: IfMatch = None,
) -> Response:
    """Staff: the stay or visit is over (``checked_in`` → ``completed``, immutable)."""
    command = transitions.Complete(**_on(booking_id, who, request, if_match), reason=_reason(body))
    return await _run(units, transitions.move, command)


@api.post("/bookings/{booking_id}/no-show", response_model=BookingPublic)
async def no_show(
    booking_id: PathId,
    who: Staff,
    request: Request,
    units: Units,
    body: StatusActionIn | None = None,
    if_match: IfMatch = None,
) -> Response:
    """Staff: the guest did not come (``confirmed`` → ``no_show``, only after the start).
    The capacity left is released; the payment is kept."""
    command = MarkNoShow(**_on(booking_id, who, request, if_match), reason=_reason(body))
    return await _run(units, mark_no_show, command)


@api.post(
    "/bookings/{booking_id}/verify-payment",
    response_model=BookingPublic,
    status_code=202,
    responses={409: {}},
)
async def verify_payment(
    booking_id: PathId, who: Admin, request: Request, response: Response, units: Units
) -> BookingPublic:
    """Admin: the bank transfer arrived. The payment service records who and when and the
    booking is confirmed by its saga (202: follow the booking). After the payment deadline
    the booking has expired: verifying then is a late payment, which reinstates it if its
    capacity is still free and is refunded otherwise."""
    command = VerifyTransfer(booking_id=booking_id, who=who, actor=actor_of(request, who))
    async with units.begin() as uow:
        booking = await verify_transfer(uow, command)
    response.headers["ETag"] = etag(booking.version)
    return public(booking)


@api.post("/bookings/{booking_id}/saga/retry", response_model=BookingPublic, status_code=202)
async def retry_saga(
    booking_id: PathId, who: Staff, request: Request, response: Response, units: Units
) -> BookingPublic:
    """Staff: resume a parked saga (a compensation or step that kept failing) by sending the
    step it stopped on again. 409 when nothing is parked."""
    command = RetrySaga(booking_id=booking_id, who=who, actor=actor_of(request, who))
    async with units.begin() as uow:
        booking = await retry_parked_saga(uow, command)
    response.headers["ETag"] = etag(booking.version)
    return public(booking)
