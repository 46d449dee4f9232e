"""Status actions on a booking: cancel (guest or staff), check-in, complete, no-show and
payment verification (staff), and the operator's retry of a parked saga.

Every action locks the booking, checks the status machine (409 with the allowed transitions
when it forbids the action) and, when ``If-Match`` is sent, the version (412). Cancel takes an
``Idempotency-Key``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from booking.adapters import lifecycle, orchestrator, repository
from booking.adapters.orchestrator import COMMAND_TOPICS, saga_data_of
from booking.api.common import (
    Outcome,
    busy,
    check_if_match,
    etag,
    idempotent,
    illegal,
    public,
    visible,
)
from booking.api.routes import LEASE_S
from booking.api.schemas import BookingPublic, CancelIn, StatusActionIn
from booking.domain.booking import (
    BookingStatus,
    IllegalTransition,
    NotYetStarted,
    check_no_show,
    transition,
)
from booking.domain.saga import Participant, abort, label, retry_parked, start
from booking.domain.sagas import CANCEL_BOOKING, CANCELLED, NO_SHOW
from booking.settings import BookingSettings
from contracts.payment import VerifyPayment
from service_kit.audit import Actor, actor_of
from service_kit.auth import Admin, Caller, Principal, Staff
from service_kit.clock import db_now
from service_kit.fields import IF_MATCH_MAX, PathId
from service_kit.problems import Problem
from service_kit.ratelimit import RATE_LIMITED
from service_kit.runtime import Wiring

S = BookingStatus
BANK_TRANSFER = "bank_transfer"


def router(wiring: Wiring) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["booking actions"])
    engine = wiring.engine
    outbox = wiring.outbox
    settings = wiring.settings
    assert isinstance(settings, BookingSettings)
    timing = settings.timing

    async def act(
        booking_id: str,
        who: Principal,
        request: Request,
        if_match: str | None,
        action: Callable[[AsyncConnection, Row[Any], Actor], Awaitable[Row[Any]]],
    ) -> JSONResponse:
        async with engine.begin() as conn:
            row = await visible(conn, booking_id, who, lock=True)
            check_if_match(if_match, row, required=False)
            try:
                row = await action(conn, row, actor_of(request, who))
            except IllegalTransition as exc:
                raise illegal(exc) from None
        return JSONResponse(
            public(row).model_dump(mode="json"), headers={"ETag": etag(row.version)}
        )

    async def cancel_now(
        conn: AsyncConnection, row: Row[Any], actor: Actor, reason: str
    ) -> Row[Any]:
        """The booking is cancelled now; a saga gives back what it holds."""
        current = S(row.status)
        transition(current, S.CANCELLED)
        saga = await repository.lock_active_saga(conn, row.id)
        if current in (S.PENDING, S.AWAITING_PAYMENT):
            # The create saga is still running or waiting for the payment: it stops and gives
            # back what it took (it ends in cancelled, then refunded if a transfer arrived).
            moved = await lifecycle.move(
                conn,
                outbox,
                row,
                S.CANCELLED,
                actor,
                reason=reason,
                fields={"cancel_reason": reason, "cancelled_by": actor.subject},
            )
            if saga is not None:
                await orchestrator.apply(conn, outbox, saga, abort(saga.state, CANCELLED), timing)
            return moved
        if saga is not None:
            raise busy()
        moved = await lifecycle.move(
            conn,
            outbox,
            row,
            S.CANCELLED,
            actor,
            reason=reason,
            fields={"cancel_reason": reason, "cancelled_by": actor.subject},
        )
        seq = await repository.next_saga_seq(conn, row.id)
        data = replace(saga_data_of(moved), cancelled_at=moved.cancelled_at)
        await orchestrator.begin(conn, outbox, row.id, start(CANCEL_BOOKING, data, seq), timing)
        return moved

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
        body: CancelIn | None = None,
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
        if_match: Annotated[str | None, Header(max_length=IF_MATCH_MAX)] = None,
    ) -> Response:
        """Cancel: the booking is ``cancelled`` at once; its capacity is released and the refund
        its cancellation policy snapshot allows is paid back by the cancel saga, which then
        moves it to ``refunded``. A guest cancels only their own bookings, and not once checked
        in."""
        reason = (body or CancelIn()).reason
        actor = actor_of(request, who)

        async def work(conn: AsyncConnection) -> Outcome:
            row = await visible(conn, booking_id, who, lock=True)
            check_if_match(if_match, row, required=False)
            if not who.is_staff and row.status == S.CHECKED_IN:
                raise Problem(
                    403, "forbidden", "Forbidden", "A checked-in stay is cancelled by staff."
                )
            try:
                row = await cancel_now(conn, row, actor, reason)
            except IllegalTransition as exc:
                raise illegal(exc) from None
            return Outcome(200, public(row).model_dump(mode="json"), row.id)

        result = await idempotent(
            engine,
            key=idempotency_key,
            scope=f"{who.tenant}:{who.subject}:POST /bookings/{booking_id}/cancel",
            payload={"reason": reason},
            ttl_s=settings.idempotency_ttl_s,
            lease_s=LEASE_S,
            work=work,
        )
        if isinstance(result, JSONResponse):
            return result
        return JSONResponse(result.body, headers={"ETag": etag(result.body["version"])})

    async def move_to(
        wanted: BookingStatus,
        booking_id: str,
        who: Principal,
        request: Request,
        body: StatusActionIn | None,
        if_match: str | None,
    ) -> JSONResponse:
        """A status action that is only a transition (nothing to do in other services)."""
        reason = body.reason if body else None

        async def action(conn: AsyncConnection, row: Row[Any], actor: Actor) -> Row[Any]:
            return await lifecycle.move(conn, outbox, row, wanted, actor, reason=reason)

        return await act(booking_id, who, request, if_match, action)

    @api.post("/bookings/{booking_id}/check-in", response_model=BookingPublic)
    async def check_in(
        booking_id: PathId,
        who: Staff,
        request: Request,
        body: StatusActionIn | None = None,
        if_match: Annotated[str | None, Header(max_length=IF_MATCH_MAX)] = None,
    ) -> Response:
        """Staff: the guest arrived (``confirmed`` → ``checked_in``)."""
        return await move_to(S.CHECKED_IN, booking_id, who, request, body, if_match)

    @api.post("/bookings/{booking_id}/complete", response_model=BookingPublic)
    async def complete(
        booking_id: PathId,
        who: Staff,
        request: Request,
        body: StatusActionIn | None = None,
        if_match: Annotated[str | None, Header(max_length=IF_MATCH_MAX)] = None,
    ) -> Response:
        """Staff: the stay or visit is over (``checked_in`` → ``completed``, immutable)."""
        return await move_to(S.COMPLETED, booking_id, who, request, body, if_match)

    @api.post("/bookings/{booking_id}/no-show", response_model=BookingPublic)
    async def no_show(
        booking_id: PathId,
        who: Staff,
        request: Request,
        body: StatusActionIn | None = None,
        if_match: Annotated[str | None, Header(max_length=IF_MATCH_MAX)] = None,
    ) -> Response:
        """Staff: the guest did not come (``confirmed`` → ``no_show``, only after the start).
        The capacity left is released; the payment is kept."""
        reason = body.reason if body else None

        async def action(conn: AsyncConnection, row: Row[Any], actor: Actor) -> Row[Any]:
            transition(S(row.status), S.NO_SHOW)
            if row.starts_at is not None:
                try:
                    check_no_show(row.starts_at, await db_now(conn))
                except NotYetStarted as exc:
                    raise Problem(
                        409, "not-started", "The booking has not started", str(exc)
                    ) from None
            if await repository.lock_active_saga(conn, row.id) is not None:
                raise busy()
            moved = await lifecycle.move(conn, outbox, row, S.NO_SHOW, actor, reason=reason)
            seq = await repository.next_saga_seq(conn, row.id)
            await orchestrator.begin(
                conn, outbox, row.id, start(NO_SHOW, saga_data_of(moved), seq), timing
            )
            return moved

        return await act(booking_id, who, request, if_match, action)

    @api.post(
        "/bookings/{booking_id}/verify-payment",
        response_model=BookingPublic,
        status_code=202,
        responses={409: {}},
    )
    async def verify_payment(
        booking_id: PathId, who: Admin, request: Request, response: Response
    ) -> BookingPublic:
        """Admin: the bank transfer arrived. The payment service records who and when and the
        booking is confirmed by its saga (202: follow the booking). After the payment deadline
        the booking has expired: verifying then is a late payment, which reinstates it if its
        capacity is still free and is refunded otherwise."""
        actor = actor_of(request, who)
        async with engine.begin() as conn:
            row = await visible(conn, booking_id, who, lock=True)
            if row.payment_method != BANK_TRANSFER:
                raise Problem(
                    409,
                    "not-a-transfer",
                    "Nothing to verify",
                    "The booking is not paid by transfer.",
                )
            if row.payment_id is None or row.status not in (S.AWAITING_PAYMENT, S.EXPIRED):
                raise Problem(
                    409,
                    "not-awaiting-payment",
                    "Nothing to verify",
                    f"A {row.status} booking has no transfer to verify.",
                    current_status=row.status,
                )
            saga = await repository.lock_active_saga(conn, row.id)
            seq = saga.state.seq if saga else await repository.next_saga_seq(conn, row.id)
            command = VerifyPayment(
                booking_id=row.id,
                step=label("verify_payment", seq),
                payment_id=row.payment_id,
                verified_by=who.subject,
                tenant_id=row.tenant_id,
            )
            await outbox.add(
                conn, topic=COMMAND_TOPICS[Participant.PAYMENT], key=row.id, message=command
            )
            await repository.log(
                conn, row.id, "command", command.ce_type(), command.step, f"by {who.subject}", seq
            )
            await repository.audit(conn, row.id, row.tenant_id, "verify_payment", actor, None, None)
        response.headers["ETag"] = etag(row.version)
        return public(row)

    @api.post("/bookings/{booking_id}/saga/retry", response_model=BookingPublic, status_code=202)
    async def retry_saga(
        booking_id: PathId, who: Staff, request: Request, response: Response
    ) -> BookingPublic:
        """Staff: resume a parked saga (a compensation or step that kept failing) by sending the
        step it stopped on again. 409 when nothing is parked."""
        async with engine.begin() as conn:
            row = await visible(conn, booking_id, who, lock=True)
            saga = await repository.lock_active_saga(conn, row.id)
            decision = retry_parked(saga.state) if saga else None
            if saga is None or decision is None or decision.ignored:
                raise Problem(409, "not-parked", "Nothing to retry", "No saga of it is parked.")
            await orchestrator.apply(conn, outbox, saga, decision, timing)
            await repository.audit(
                conn, row.id, row.tenant_id, "saga_retry", actor_of(request, who), None, None
            )
        response.headers["ETag"] = etag(row.version)
        return public(row)

    return api
