"""The one place a booking process is wired."""

from __future__ import annotations

import asyncio
import logging

from booking.adapters import idempotency, tables
from booking.api.routes import router
from booking.handlers import saga_reply, step_deadlines
from booking.settings import BookingSettings
from contracts.base import Reply
from contracts.registry import REGISTRY
from contracts.topics import BOOKING_SAGA_REPLIES
from messaging.runner import Subscription
from service_kit.runtime import ServiceDefinition, Wiring

log = logging.getLogger(__name__)

REPLY_TYPES = tuple(model for model in REGISTRY.values() if issubclass(model, Reply))


def _settings(wiring: Wiring) -> BookingSettings:
    assert isinstance(wiring.settings, BookingSettings)
    return wiring.settings


def _subscriptions(wiring: Wiring) -> list[Subscription]:
    settings = _settings(wiring)
    on_reply = saga_reply.handler(settings.step_timeout_s)
    return [Subscription(BOOKING_SAGA_REPLIES, dict.fromkeys(REPLY_TYPES, on_reply))]


async def _purge_idempotency_keys_forever(wiring: Wiring, every_s: float = 600.0) -> None:
    """Keys live 24 h (``BOOKING_IDEMPOTENCY_TTL_S``); expired ones are deleted here."""
    while True:
        try:
            async with wiring.engine.begin() as conn:
                await idempotency.purge_expired(conn)
        except Exception as exc:
            log.warning("idempotency key purge failed: %s", exc)
        await asyncio.sleep(every_s)


def _background(wiring: Wiring) -> list:
    settings = _settings(wiring)
    return [
        lambda: _purge_idempotency_keys_forever(wiring),
        step_deadlines.job(
            wiring.engine,
            wiring.outbox,
            step_timeout_s=settings.step_timeout_s,
            max_attempts=settings.step_max_attempts,
            interval_s=settings.deadline_scan_interval_s,
        ),
    ]


SERVICE = ServiceDefinition(
    name="booking",
    title="Booking service",
    settings_factory=BookingSettings,  # type: ignore[arg-type]
    metadata=tables.metadata,
    outbox_table=tables.outbox,
    inbox_table=tables.inbox,
    routers=lambda wiring: [router(wiring)],
    subscriptions=_subscriptions,
    background=_background,
)
