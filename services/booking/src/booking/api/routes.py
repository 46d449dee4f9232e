"""Booking REST for the gateway: create (202 + Location, Idempotency-Key, Prefer: wait=N),
read, list, and the timeline of one booking's saga."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from booking.adapters import idempotency, repository
from booking.adapters.inventory_client import (
    InventoryClient,
    InventoryRefusedCaller,
    InventoryUnavailable,
)
from booking.adapters.orchestrator import COMMAND_TOPICS
from booking.api.schemas import (
    BookingCreate,
    BookingPublic,
    BookingTimeline,
    StatusChange,
    TimelineEntry,
)
from booking.domain.booking import SETTLED, BookingStatus
from booking.domain.reference import new_reference
from booking.domain.saga import SagaData, start
from booking.settings import BookingSettings
from contracts.base import Money
from contracts.booking import BookingCreated
from contracts.common import Party, StayPeriod
from contracts.topics import BOOKING_EVENTS
from service_kit.auth import BearerToken
from service_kit.pagination import cursor_id, set_next_link
from service_kit.problems import Problem, uuid_or
from service_kit.runtime import Wiring

CREATE_SCOPE = "POST /api/v1/bookings"
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait=(\d+)")


def _public(row: Any) -> BookingPublic:
    data = dict(row._mapping)
    amount, currency = data.pop("total_amount"), data.pop("currency")
    data.pop("tenant_id", None)
    total = Money.of(amount, currency) if amount is not None and currency else None
    return BookingPublic(**data, total=total)


def _not_found(booking_id: str) -> Problem:
    return Problem(404, "booking-not-found", "Booking not found", f"No booking {booking_id}.")


def _uuid_or_404(value: str) -> str:
    return uuid_or(value, _not_found(value))


def _prefer_wait(prefer: str | None, cap: float) -> float:
    if not prefer:
        return 0.0
    match = _PREFER_WAIT.search(prefer)
    return min(float(match.group(1)), cap) if match else 0.0


def router(wiring: Wiring) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["bookings"])
    engine = wiring.engine
    outbox = wiring.outbox
    settings = wiring.settings
    assert isinstance(settings, BookingSettings)
    inventory = InventoryClient(settings.inventory_url)

    async def load(booking_id: str) -> BookingPublic | None:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(f"SELECT {repository.BOOKING_COLUMNS} FROM bookings WHERE id = :id"),
                    {"id": booking_id},
                )
            ).first()
        return _public(row) if row else None

    def respond(status: int, body: Any, booking_id: str, replayed: bool = False) -> JSONResponse:
        headers = {"Location": f"/api/v1/bookings/{booking_id}"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(body, status_code=status, headers=headers)

    @api.post(
        "/bookings",
        status_code=202,
        response_model=BookingPublic,
        responses={201: {"model": BookingPublic}, 409: {}, 422: {}},
    )
    async def create_booking(
        body: BookingCreate,
        bearer: BearerToken,
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
        prefer: Annotated[str | None, Header()] = None,
    ) -> Response:
        """Accept a booking and start its saga. 202 + Location; ``Prefer: wait=N`` waits up to
        N seconds for a terminal status (then 201)."""
        try:
            token = bearer.credentials if bearer else None
            if not await inventory.resource_exists(body.resource_id, token):
                raise Problem(
                    422,
                    "unknown-resource",
                    "Unknown resource",
                    f"Resource {body.resource_id} does not exist.",
                )
        except InventoryRefusedCaller as refused:
            raise Problem(
                refused.status,
                "unauthorized" if refused.status == 401 else "forbidden",
                "Unauthorized" if refused.status == 401 else "Forbidden",
                "A valid bearer token of the resource's tenant is required.",
                headers={"WWW-Authenticate": "Bearer"} if refused.status == 401 else None,
            ) from None
        except InventoryUnavailable:
            raise Problem(
                503,
                "dependency-unavailable",
                "Inventory unavailable",
                "Try again shortly.",
                headers={"Retry-After": "2"},
            ) from None

        payload = body.model_dump(mode="json")
        booking_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            if idempotency_key is not None:
                if not idempotency_key.strip():
                    raise Problem(400, "bad-idempotency-key", "Empty Idempotency-Key")
                stored = await idempotency.claim(
                    conn,
                    CREATE_SCOPE,
                    idempotency_key,
                    idempotency.fingerprint(payload),
                    settings.idempotency_ttl_s,
                )
                if stored is not None:
                    if stored.request_hash != idempotency.fingerprint(payload):
                        raise Problem(
                            422,
                            "idempotency-key-reused",
                            "Idempotency-Key reused",
                            "This key was used with a different request body.",
                        )
                    if stored.status_code is None or stored.booking_id is None:
                        raise Problem(
                            409,
                            "request-in-progress",
                            "Request in progress",
                            "A request with this Idempotency-Key is still being processed.",
                            headers={"Retry-After": "1"},
                        )
                    return respond(
                        stored.status_code, stored.body, stored.booking_id, replayed=True
                    )

            inserted = await repository.insert_booking(
                conn,
                {
                    "id": booking_id,
                    "reference": new_reference(now.date()),
                    "resource_id": body.resource_id,
                    "check_in": body.check_in,
                    "check_out": body.check_out,
                    "party": payload["party"],
                    "guest": payload["guest"],
                    "special_requests": body.special_requests,
                    "payment_method": body.payment_method,
                    "status": BookingStatus.PENDING.value,
                },
            )
            data = SagaData(
                booking_id=booking_id,
                resource_id=body.resource_id,
                check_in=body.check_in,
                check_out=body.check_out,
                party=payload["party"],
                payment_method=body.payment_method,
            )
            decision = start(data)
            await repository.insert_saga(
                conn,
                booking_id,
                decision.state,
                repository.deadline_after(now, settings.step_timeout_s),
            )
            await outbox.add(
                conn,
                topic=BOOKING_EVENTS,
                key=booking_id,
                message=BookingCreated(
                    booking_id=booking_id,
                    booking_version=1,
                    status=BookingStatus.PENDING,
                    occurred_at=now,
                    resource_id=body.resource_id,
                    period=StayPeriod(check_in=body.check_in, check_out=body.check_out),
                    party=Party(**payload["party"]),
                ),
            )
            assert decision.command is not None
            participant, command = decision.command
            await outbox.add(
                conn, topic=COMMAND_TOPICS[participant], key=booking_id, message=command
            )
            await repository.log(conn, booking_id, "event", BookingCreated.ce_type(), None)
            await repository.log(conn, booking_id, "command", command.ce_type(), command.step)
            created = _public(inserted).model_dump(mode="json")
            if idempotency_key is not None:
                await idempotency.complete(
                    conn, CREATE_SCOPE, idempotency_key, 202, created, booking_id
                )

        wait_s = _prefer_wait(prefer, settings.max_prefer_wait_s)
        if wait_s > 0:
            current = await wait_for_terminal(booking_id, wait_s)
            if current is not None and current.status in SETTLED:
                response = respond(201, current.model_dump(mode="json"), booking_id)
                response.headers["Preference-Applied"] = f"wait={int(wait_s)}"
                return response
        return respond(202, created, booking_id)

    async def wait_for_terminal(booking_id: str, wait_s: float) -> BookingPublic | None:
        deadline = time.monotonic() + wait_s
        delay = 0.02
        current = None
        while time.monotonic() < deadline:
            current = await load(booking_id)
            if current is not None and current.status in SETTLED:
                return current
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.25)
        return current

    @api.get("/bookings/{booking_id}", response_model=BookingPublic)
    async def get_booking(booking_id: str) -> BookingPublic:
        found = await load(_uuid_or_404(booking_id))
        if found is None:
            raise _not_found(booking_id)
        return found

    @api.get("/bookings", response_model=list[BookingPublic])
    async def list_bookings(
        request: Request,
        response: Response,
        status: Annotated[str | None, Query(max_length=32)] = None,
        resource_id: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[
            str | None, Query(description="id of the last booking of the previous page")
        ] = None,
    ) -> list[BookingPublic]:
        if status is not None and status not in {s.value for s in BookingStatus}:
            raise Problem(
                422, "bad-filter", "Unknown status", f"{status!r} is not a booking status."
            )
        after = cursor_id(cursor) if cursor else None
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        f"SELECT {repository.BOOKING_COLUMNS} FROM bookings "
                        "WHERE (CAST(:st AS text) IS NULL OR status = :st) "
                        "AND (CAST(:r AS text) IS NULL OR resource_id = :r) "
                        "AND (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid)) "
                        "ORDER BY id LIMIT :limit"
                    ),
                    {"st": status, "r": resource_id, "after": after, "limit": limit},
                )
            ).all()
        items = [_public(r) for r in rows]
        set_next_link(request, response, items, limit)
        return items

    @api.get("/bookings/{booking_id}/timeline", response_model=BookingTimeline)
    async def timeline(booking_id: str) -> BookingTimeline:
        found = await get_booking(booking_id)
        async with engine.connect() as conn:
            history = await conn.execute(
                text(
                    "SELECT at, from_status, to_status, actor, reason FROM booking_status_history "
                    "WHERE booking_id = :b ORDER BY id"
                ),
                {"b": found.id},
            )
            messages = await conn.execute(
                text(
                    "SELECT at, kind, message_type, step, detail FROM saga_log "
                    "WHERE booking_id = :b ORDER BY id"
                ),
                {"b": found.id},
            )
            saga = (
                await conn.execute(
                    text("SELECT status FROM sagas WHERE booking_id = :b"), {"b": found.id}
                )
            ).first()
            return BookingTimeline(
                booking_id=found.id,
                status=found.status,
                saga_status=saga.status if saga else None,
                history=[StatusChange(**r._mapping) for r in history],
                messages=[TimelineEntry(**r._mapping) for r in messages],
            )

    return api
