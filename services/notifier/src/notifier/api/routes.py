"""Notifier REST: the notifications recorded for a booking."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import text

from service_kit.runtime import Wiring


class NotificationPublic(BaseModel):
    id: str
    event_id: str
    event_type: str
    booking_id: str
    channel: str
    template: str
    status: str
    created_at: datetime


def router(wiring: Wiring) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["notifier"])

    @api.get("/notifications", response_model=list[NotificationPublic])
    async def list_notifications(
        booking_id: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[NotificationPublic]:
        async with wiring.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT id::text, event_id, event_type, booking_id, channel, template, status, "
                    "created_at FROM notifications WHERE (CAST(:b AS text) IS NULL OR booking_id = :b) "
                    "ORDER BY created_at, id LIMIT :limit"
                ),
                {"b": booking_id, "limit": limit},
            )
            return [NotificationPublic(**r._mapping) for r in rows]

    return api
