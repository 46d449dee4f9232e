"""Webhook endpoints per tenant: register, list, read, rotate the secret, disable, enable, and
the delivery log of one endpoint. Admins only: an endpoint receives all of the tenant's
guest data.

A secret is shown when it is made (create, rotate) and never again. During
``NOTIFIER_WEBHOOK_ROTATION_GRACE_S`` after a rotation every delivery is signed with both the
new and the old secret, so a receiver can switch at its own pace.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.booking import BookingEvent, WaitlistEvent
from contracts.registry import REGISTRY
from notifier.adapters.http import checked_addresses
from notifier.adapters.repository import disable_endpoint
from notifier.api.routes import NotificationPublic, list_rows
from notifier.domain.targets import TargetRefused, split_url
from notifier.domain.webhooks import new_secret
from notifier.settings import NotifierSettings
from service_kit import audit
from service_kit.audit import AuditEntry, actor_of
from service_kit.auth import Admin
from service_kit.fields import PathId
from service_kit.pagination import Cursor, cursor_id, set_next_link
from service_kit.problems import Problem, uuid_or
from service_kit.runtime import Wiring

# What an endpoint may subscribe to: every event type on booking.events.
EVENT_TYPES = sorted(
    {m.type for m in REGISTRY.values() if issubclass(m, BookingEvent | WaitlistEvent)}
)

COLUMNS = (
    "id::text, url, description, event_types, status, disabled_reason, disabled_at, "
    "previous_secret_expires_at, created_by, created_at, updated_at"
)


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str = Field(
        min_length=8,
        max_length=2000,
        description="https:// (http:// only to a network the operator allowed)",
        examples=["https://hooks.example.com/booking"],
    )
    description: str | None = Field(default=None, max_length=500)
    event_types: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list,
        max_length=len(EVENT_TYPES),
        description="Event types to receive (e.g. booking.confirmed); empty: all of them.",
    )


class EndpointPublic(BaseModel):
    id: str
    url: str
    description: str | None
    event_types: list[str]
    status: str
    disabled_reason: str | None
    disabled_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="until then deliveries are signed with the previous secret too"
    )
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointPublic):
    secret: str = Field(description="whsec_...: shown now and never again")


def _not_found(endpoint_id: str) -> Problem:
    return Problem(404, "not-found", "Not found", f"Webhook endpoint {endpoint_id} does not exist.")


def _public(row: Row[Any]) -> EndpointPublic:
    return EndpointPublic(**row._mapping)


async def _owned(
    conn: AsyncConnection, endpoint_id: str, tenant: str, lock: bool = False
) -> Row[Any]:
    eid = uuid_or(endpoint_id, _not_found(endpoint_id))
    row = (
        await conn.execute(
            text(
                f"SELECT {COLUMNS} FROM webhook_endpoints "
                f"WHERE id = CAST(:id AS uuid) AND tenant_id = :t{' FOR UPDATE' if lock else ''}"
            ),
            {"id": eid, "t": tenant},
        )
    ).first()
    if row is None:
        raise _not_found(endpoint_id)
    return row


def router(wiring: Wiring) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["webhooks"])
    engine = wiring.engine
    settings = wiring.settings
    assert isinstance(settings, NotifierSettings)
    box = settings.secret_box  # secrets are stored sealed, shown once in clear

    async def check_url(url: str) -> None:
        try:
            scheme, host, port = split_url(url)
            await checked_addresses(scheme, host, port, settings.allowed_networks)
        except TargetRefused as exc:
            raise Problem(
                422, "target-not-allowed", "Webhook target not allowed", str(exc)
            ) from None

    @api.post(
        "/webhook-endpoints",
        response_model=EndpointWithSecret,
        status_code=201,
        responses={422: {"description": "the URL is not allowed, or an event type is unknown"}},
    )
    async def create_endpoint(
        body: EndpointIn, who: Admin, request: Request, response: Response
    ) -> EndpointWithSecret:
        """Register a URL to receive the tenant's events, signed per Standard Webhooks."""
        unknown = sorted(set(body.event_types) - set(EVENT_TYPES))
        if unknown:
            raise Problem(
                422,
                "unknown-event-type",
                "Unknown event type",
                f"Unknown event types {unknown}; known: {EVENT_TYPES}.",
            )
        await check_url(body.url)
        secret = new_secret()
        async with engine.begin() as conn:
            row = (
                await conn.execute(
                    text(
                        "INSERT INTO webhook_endpoints (id, tenant_id, url, description, "
                        "event_types, secret, status, created_by) VALUES (:id, :t, :url, :d, "
                        f":types, :secret, 'active', :by) RETURNING {COLUMNS}"
                    ),
                    {
                        "id": str(uuid.uuid4()),
                        "t": who.tenant,
                        "url": body.url,
                        "d": body.description,
                        "types": sorted(set(body.event_types)),
                        "secret": box.seal(secret),
                        "by": who.subject,
                    },
                )
            ).one()
            await audit.record_change(
                conn, request, who, "webhook_endpoint", "create", None, _public(row)
            )
        response.headers["Location"] = f"/api/v1/webhook-endpoints/{row.id}"
        return EndpointWithSecret(**row._mapping, secret=secret)

    @api.get("/webhook-endpoints", response_model=list[EndpointPublic])
    async def list_endpoints(
        request: Request,
        response: Response,
        who: Admin,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Cursor = None,
    ) -> list[EndpointPublic]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    f"SELECT {COLUMNS} FROM webhook_endpoints WHERE tenant_id = :t "
                    "AND (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid)) "
                    "ORDER BY id LIMIT :limit"
                ),
                {"t": who.tenant, "after": cursor_id(cursor) if cursor else None, "limit": limit},
            )
            items = [_public(r) for r in rows]
        set_next_link(request, response, items, limit)
        return items

    @api.get("/webhook-endpoints/{endpoint_id}", response_model=EndpointPublic)
    async def get_endpoint(endpoint_id: PathId, who: Admin) -> EndpointPublic:
        async with engine.connect() as conn:
            return _public(await _owned(conn, endpoint_id, who.tenant))

    @api.post("/webhook-endpoints/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret)
    async def rotate_secret(
        endpoint_id: PathId, request: Request, who: Admin
    ) -> EndpointWithSecret:
        """A new secret. The old one keeps signing beside it for the grace period (a rotation
        during the grace period ends the older secret at once)."""
        secret = new_secret()
        async with engine.begin() as conn:
            before = _public(await _owned(conn, endpoint_id, who.tenant, lock=True))
            row = (
                await conn.execute(
                    text(
                        "UPDATE webhook_endpoints SET previous_secret = secret, secret = :secret, "
                        "previous_secret_expires_at = now() + make_interval(secs => :grace), "
                        f"updated_at = now() WHERE id = CAST(:id AS uuid) RETURNING {COLUMNS}"
                    ),
                    {
                        "secret": box.seal(secret),
                        "grace": settings.webhook_rotation_grace_s,
                        "id": endpoint_id,
                    },
                )
            ).one()
            # The secrets themselves are never shown, in the trail either: when the old one
            # stops signing says that a rotation happened.
            await audit.record_change(
                conn, request, who, "webhook_endpoint", "rotate-secret", before, _public(row)
            )
        return EndpointWithSecret(**row._mapping, secret=secret)

    @api.post("/webhook-endpoints/{endpoint_id}/disable", response_model=EndpointPublic)
    async def disable(endpoint_id: PathId, request: Request, who: Admin) -> EndpointPublic:
        """No more deliveries; those waiting are cancelled (replay them after enabling)."""
        async with engine.begin() as conn:
            await _owned(conn, endpoint_id, who.tenant, lock=True)
            await disable_endpoint(
                conn, endpoint_id, f"disabled by {who.subject}", actor_of(request, who)
            )
            return _public(await _owned(conn, endpoint_id, who.tenant))

    @api.post("/webhook-endpoints/{endpoint_id}/enable", response_model=EndpointPublic)
    async def enable(endpoint_id: PathId, request: Request, who: Admin) -> EndpointPublic:
        """Deliver again, from the next event on (the URL is checked again)."""
        async with engine.connect() as conn:
            current = await _owned(conn, endpoint_id, who.tenant)
        await check_url(current.url)
        async with engine.begin() as conn:
            before = _public(await _owned(conn, endpoint_id, who.tenant, lock=True))
            row = (
                await conn.execute(
                    text(
                        "UPDATE webhook_endpoints SET status = 'active', disabled_reason = NULL, "
                        "disabled_at = NULL, updated_at = now() WHERE id = CAST(:id AS uuid) "
                        f"RETURNING {COLUMNS}"
                    ),
                    {"id": endpoint_id},
                )
            ).one()
            enabled = _public(row)
            await audit.record_change(
                conn, request, who, "webhook_endpoint", "enable", before, enabled
            )
        return enabled

    @api.get("/webhook-endpoints/{endpoint_id}/audit", response_model=list[AuditEntry])
    async def endpoint_audit(endpoint_id: PathId, who: Admin) -> list[AuditEntry]:
        """Every change made to the endpoint, by an admin or by the platform (disabled on a 410
        Gone): who, from where, when, and the values before and after (never a secret)."""
        async with engine.connect() as conn:
            found = await _owned(conn, endpoint_id, who.tenant)
            return await audit.trail(conn, "webhook_endpoint", found.id)

    @api.get("/webhook-endpoints/{endpoint_id}/deliveries", response_model=list[NotificationPublic])
    async def deliveries(
        endpoint_id: PathId,
        request: Request,
        response: Response,
        who: Admin,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Cursor = None,
    ) -> list[NotificationPublic]:
        """The endpoint's delivery log, oldest first; each delivery's attempts are at
        ``GET /notifications/{id}``."""
        async with engine.connect() as conn:
            await _owned(conn, endpoint_id, who.tenant)
            items = await list_rows(
                conn, who.tenant, endpoint_id=endpoint_id, cursor=cursor, limit=limit
            )
        set_next_link(request, response, items, limit)
        return items

    return api
