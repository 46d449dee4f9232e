"""Notifier REST: the notifications of the caller's tenant (emails and webhook deliveries), each
with its log of attempts, and a manual replay.

Staff only: recipients are personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.webhooks import webhook_id
from service_kit.auth import Staff
from service_kit.fields import PathId
from service_kit.pagination import Cursor, cursor_id, set_next_link
from service_kit.problems import Problem, uuid_or
from service_kit.runtime import Wiring

Status = Literal["pending", "delivered", "failed", "cancelled"]
Channel = Literal["email", "webhook"]

COLUMNS = (
    "id::text, event_id, event_type, booking_id, channel, endpoint_id::text, recipient, "
    "template, status, attempts, next_attempt_at, last_attempt_at, last_code, last_error, "
    "delivered_at, replays, created_at"
)


class NotificationPublic(BaseModel):
    id: str
    event_id: str
    event_type: str
    booking_id: str | None
    channel: str
    endpoint_id: str | None
    recipient: str | None
    template: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    replays: int
    created_at: datetime
    webhook_id: str | None = None


class AttemptPublic(BaseModel):
    attempt: int
    started_at: datetime
    duration_ms: int
    code: int | None
    error: str | None
    response: str | None
    verdict: str


class NotificationDetail(NotificationPublic):
    subject: str | None = None  # an email's
    body: str | None = None  # a webhook's JSON, as signed
    attempt_log: list[AttemptPublic]


def public_values(values: dict[str, Any]) -> dict[str, Any]:
    if values["channel"] == "webhook":
        values = {**values, "webhook_id": webhook_id(values["id"])}
    return values


def public(row: Row[Any]) -> NotificationPublic:
    return NotificationPublic(**public_values(dict(row._mapping)))


async def list_rows(
    conn: AsyncConnection,
    tenant: str,
    *,
    booking_id: str | None = None,
    channel: str | None = None,
    status: str | None = None,
    endpoint_id: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> list[NotificationPublic]:
    rows = await conn.execute(
        text(
            f"SELECT {COLUMNS} FROM notifications WHERE tenant_id = :t "
            "AND (CAST(:b AS text) IS NULL OR booking_id = :b) "
            "AND (CAST(:ch AS text) IS NULL OR channel = :ch) "
            "AND (CAST(:st AS text) IS NULL OR status = :st) "
            "AND (CAST(:ep AS uuid) IS NULL OR endpoint_id = CAST(:ep AS uuid)) "
            "AND (CAST(:after AS uuid) IS NULL OR seq > "
            "     (SELECT seq FROM notifications WHERE id = CAST(:after AS uuid))) "
            "ORDER BY seq LIMIT :limit"
        ),
        {
            "t": tenant,
            "b": booking_id,
            "ch": channel,
            "st": status,
            "ep": endpoint_id,
            "after": cursor_id(cursor) if cursor else None,
            "limit": limit,
        },
    )
    return [public(r) for r in rows]


def _not_found(notification_id: str) -> Problem:
    return Problem(404, "not-found", "Not found", f"Notification {notification_id} does not exist.")


def router(wiring: Wiring) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["notifications"])
    engine = wiring.engine

    @api.get("/notifications", response_model=list[NotificationPublic])
    async def list_notifications(
        request: Request,
        response: Response,
        who: Staff,
        booking_id: Annotated[str | None, Query(max_length=64)] = None,
        channel: Channel | None = None,
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Cursor = None,
    ) -> list[NotificationPublic]:
        """Emails and webhook deliveries in the order they were queued."""
        async with engine.connect() as conn:
            items = await list_rows(
                conn,
                who.tenant,
                booking_id=booking_id,
                channel=channel,
                status=status,
                cursor=cursor,
                limit=limit,
            )
        set_next_link(request, response, items, limit)
        return items

    @api.get("/notifications/{notification_id}", response_model=NotificationDetail)
    async def get_notification(notification_id: PathId, who: Staff) -> NotificationDetail:
        """One notification, what it sent, and every attempt: when, how long, the answer."""
        nid = uuid_or(notification_id, _not_found(notification_id))
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        f"SELECT {COLUMNS}, payload FROM notifications "
                        "WHERE id = CAST(:id AS uuid) AND tenant_id = :t"
                    ),
                    {"id": nid, "t": who.tenant},
                )
            ).first()
            if row is None:
                raise _not_found(notification_id)
            attempts = await conn.execute(
                text(
                    "SELECT attempt, started_at, duration_ms, code, error, response, verdict "
                    "FROM delivery_attempts WHERE notification_id = CAST(:id AS uuid) ORDER BY id"
                ),
                {"id": nid},
            )
            log = [AttemptPublic(**a._mapping) for a in attempts]
        payload = row.payload or {}
        values = {k: v for k, v in row._mapping.items() if k != "payload"}
        return NotificationDetail(
            **public_values(values),
            subject=payload.get("subject"),
            body=payload.get("body"),
            attempt_log=log,
        )

    @api.post(
        "/notifications/{notification_id}/replay",
        response_model=NotificationPublic,
        status_code=202,
        responses={409: {"description": "already pending, or its webhook endpoint is disabled"}},
    )
    async def replay(notification_id: PathId, who: Staff) -> NotificationPublic:
        """Send a notification again, now, with a fresh schedule: the same message and, for a
        webhook, the same ``webhook-id`` (the receiver may already have it)."""
        nid = uuid_or(notification_id, _not_found(notification_id))
        async with engine.begin() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT n.status, e.status AS endpoint_status FROM notifications n "
                        "LEFT JOIN webhook_endpoints e ON e.id = n.endpoint_id "
                        "WHERE n.id = CAST(:id AS uuid) AND n.tenant_id = :t FOR UPDATE OF n"
                    ),
                    {"id": nid, "t": who.tenant},
                )
            ).first()
            if row is None:
                raise _not_found(notification_id)
            if row.status == "pending":
                raise Problem(
                    409, "already-pending", "Already pending", "The notification is on its way."
                )
            if row.endpoint_status not in (None, "active"):
                raise Problem(
                    409,
                    "endpoint-disabled",
                    "Endpoint disabled",
                    "Enable the webhook endpoint before replaying to it.",
                )
            updated = (
                await conn.execute(
                    text(
                        "UPDATE notifications SET status = 'pending', attempts = 0, "
                        "next_attempt_at = now(), lease_token = NULL, replays = replays + 1, "
                        f"updated_at = now() WHERE id = CAST(:id AS uuid) RETURNING {COLUMNS}"
                    ),
                    {"id": nid},
                )
            ).one()
        return public(updated)

    return api
