"""The notifier's SQL: booking views, webhook endpoints and queued notifications."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.notifications import BookingView
from service_kit import audit
from service_kit.audit import Actor

VIEW_FIELDS = [f.name for f in dataclasses.fields(BookingView)]


async def load_view(conn: AsyncConnection, booking_id: str) -> BookingView | None:
    row = (
        await conn.execute(
            text(f"SELECT {', '.join(VIEW_FIELDS)} FROM booking_views WHERE booking_id = :b"),
            {"b": booking_id},
        )
    ).first()
    return BookingView(**row._mapping) if row is not None else None


async def save_view(conn: AsyncConnection, view: BookingView) -> None:
    values = dataclasses.asdict(view)
    values["contact"] = json.dumps(view.contact) if view.contact is not None else None
    columns = ", ".join(VIEW_FIELDS)
    params = ", ".join(
        "CAST(:contact AS jsonb)" if f == "contact" else f":{f}" for f in VIEW_FIELDS
    )
    updates = ", ".join(f"{f} = EXCLUDED.{f}" for f in VIEW_FIELDS if f != "booking_id")
    await conn.execute(
        text(
            f"INSERT INTO booking_views ({columns}) VALUES ({params}) "
            f"ON CONFLICT (booking_id) DO UPDATE SET {updates}, updated_at = now() "
            # An older event only fills gaps at the version the view has (domain.apply).
            "WHERE booking_views.version <= EXCLUDED.version"
        ),
        values,
    )


async def endpoints_for(conn: AsyncConnection, tenant_id: str, event_type: str) -> list[Row[Any]]:
    """The tenant's active endpoints that take ``event_type`` (an empty list takes all)."""
    rows = await conn.execute(
        text(
            "SELECT id::text, url FROM webhook_endpoints WHERE tenant_id = :t "
            "AND status = 'active' AND (event_types = '{}' OR :type = ANY(event_types)) "
            "ORDER BY created_at, id"
        ),
        {"t": tenant_id, "type": event_type},
    )
    return list(rows.all())


async def queue(
    conn: AsyncConnection,
    *,
    notification_id: str | None = None,
    event_source: str,
    event_id: str,
    event_type: str,
    booking_id: str | None,
    tenant_id: str | None,
    channel: str,
    target: str,
    endpoint_id: str | None,
    recipient: str,
    template: str,
    payload: dict[str, Any],
    order_key: str,
) -> bool:
    """Queue one notification, due now; False when this event already has it for the target."""
    row = await conn.execute(
        text(
            "INSERT INTO notifications (id, event_source, event_id, event_type, booking_id, "
            "tenant_id, channel, target, endpoint_id, recipient, template, payload, status, "
            "order_key, next_attempt_at) VALUES (:id, :src, :eid, :type, :b, :t, :ch, :target, "
            ":ep, :to, :tpl, CAST(:payload AS jsonb), 'pending', :key, now()) "
            "ON CONFLICT ON CONSTRAINT notifications_once_per_target DO NOTHING RETURNING id"
        ),
        {
            "id": notification_id or str(uuid.uuid4()),
            "src": event_source,
            "eid": event_id,
            "type": event_type,
            "b": booking_id,
            "t": tenant_id,
            "ch": channel,
            "target": target,
            "ep": endpoint_id,
            "to": recipient,
            "tpl": template,
            "payload": json.dumps(payload),
            "key": order_key,
        },
    )
    return row.first() is not None


async def disable_endpoint(
    conn: AsyncConnection, endpoint_id: str, reason: str, actor: Actor
) -> None:
    """Disable an endpoint (audited as ``actor``'s doing) and cancel what was waiting for it (a
    replay can send it later)."""
    disabled = (
        await conn.execute(
            text(
                "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = :reason, "
                "disabled_at = now(), updated_at = now() WHERE id = :id AND status = 'active' "
                "RETURNING tenant_id"
            ),
            {"id": endpoint_id, "reason": reason},
        )
    ).first()
    if disabled is not None:
        await audit.record(
            conn,
            tenant_id=disabled.tenant_id,
            entity="webhook_endpoint",
            entity_id=str(endpoint_id),
            action="disable",
            actor=actor,
            old={"status": "active", "disabled_reason": None},
            new={"status": "disabled", "disabled_reason": reason},
        )
    await conn.execute(
        text(
            "UPDATE notifications SET status = 'cancelled', lease_token = NULL, "
            "next_attempt_at = NULL, last_error = :reason, updated_at = now() "
            "WHERE endpoint_id = :id AND status = 'pending'"
        ),
        {"id": endpoint_id, "reason": f"endpoint disabled: {reason}"},
    )
