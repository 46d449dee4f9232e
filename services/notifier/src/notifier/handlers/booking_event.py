"""An event from ``booking.events`` → the guest's email and the tenant's webhooks, queued in the
consumer's transaction (with the inbox claim: a redelivered event queues nothing).

Each queued notification is due at once; the dispatcher (``notifier.dispatch``) sends it.
Rendering happens here, once: the stored message is what every retry sends.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from email.utils import parseaddr

from contracts.base import Event
from contracts.booking import BookingEvent, WaitlistEvent, WaitlistOffered
from messaging.runner import HandlerContext
from notifier import emails
from notifier.adapters import repository
from notifier.domain.notifications import (
    CHANNEL_EMAIL,
    CHANNEL_WEBHOOK,
    BookingView,
    apply,
    email_for,
)
from notifier.settings import NotifierSettings


def webhook_body(ctx: HandlerContext, event: Event) -> str:
    """The JSON a webhook receiver gets: Standard Webhooks' ``type``/``timestamp``/``data``, plus
    the CloudEvent's id, source and version, so a receiver can deduplicate and replay by it."""
    envelope = ctx.envelope
    return json.dumps(
        {
            "type": event.type,
            "version": event.version,
            "timestamp": envelope.time.isoformat(),
            "id": envelope.id,
            "source": envelope.source,
            "data": event.model_dump(mode="json"),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


@dataclass(frozen=True)
class Notify:
    settings: NotifierSettings

    async def booking_event(self, ctx: HandlerContext, event: BookingEvent) -> None:
        """Every event applied here notifies (a duplicate never reaches a handler: the inbox
        stops it, and a notification is queued once per event and target). An older event,
        redriven late, notifies too, and leaves the view as new as it was."""
        before = await repository.load_view(ctx.conn, event.booking_id)
        view = apply(before, event)
        if view != before:
            await repository.save_view(ctx.conn, view)
        await self._email(ctx, event, view, event.booking_id, view.contact or {})
        await self._webhooks(ctx, event, event.booking_id, view.tenant_id)

    async def waitlist_event(self, ctx: HandlerContext, event: WaitlistEvent) -> None:
        contact = {}
        if isinstance(event, WaitlistOffered) and event.contact_email:
            contact = {
                "email": event.contact_email,
                "name": event.contact_name,
                "locale": event.locale,
            }
        await self._email(ctx, event, None, f"waitlist:{event.entry_id}", contact)
        await self._webhooks(ctx, event, f"waitlist:{event.entry_id}", event.tenant_id)

    async def _email(
        self,
        ctx: HandlerContext,
        event: Event,
        view: BookingView | None,
        subject: str,
        contact: dict[str, str | None],
    ) -> None:
        intent = email_for(event)
        to = contact.get("email")
        if intent is None or not to or not self.settings.email_enabled:
            return
        rendered = emails.render(
            intent,
            event,
            view,
            to=to,
            to_name=contact.get("name"),
            requested_locale=contact.get("locale"),
            default_locale=self.settings.default_locale,
            organizer=_address(self.settings.email_from),
        )
        await repository.queue(
            ctx.conn,
            event_source=ctx.envelope.source,
            event_id=ctx.envelope.id,
            event_type=ctx.envelope.type,
            booking_id=view.booking_id if view else None,
            tenant_id=getattr(event, "tenant_id", None),
            channel=CHANNEL_EMAIL,
            target="",
            endpoint_id=None,
            recipient=to,
            template=intent.template,
            payload=rendered.payload(),
            order_key=f"email:{subject}",
        )

    async def _webhooks(
        self, ctx: HandlerContext, event: Event, subject: str, tenant_id: str | None
    ) -> None:
        if tenant_id is None:
            return
        endpoints = await repository.endpoints_for(ctx.conn, tenant_id, event.type)
        if not endpoints:
            return
        body = webhook_body(ctx, event)
        for endpoint in endpoints:
            await repository.queue(
                ctx.conn,
                notification_id=str(uuid.uuid4()),
                event_source=ctx.envelope.source,
                event_id=ctx.envelope.id,
                event_type=ctx.envelope.type,
                booking_id=getattr(event, "booking_id", None),
                tenant_id=tenant_id,
                channel=CHANNEL_WEBHOOK,
                target=endpoint.id,
                endpoint_id=endpoint.id,
                recipient=endpoint.url,
                template=event.type,
                payload={"body": body},
                order_key=f"webhook:{endpoint.id}:{subject}",
            )


def _address(sender: str) -> str | None:
    return parseaddr(sender)[1] or None
