"""The one place a notifier process is wired."""

from __future__ import annotations

from contracts.booking import BookingEvent
from contracts.topics import BOOKING_EVENTS
from messaging.runner import Subscription
from notifier.adapters import tables
from notifier.api.routes import router
from notifier.handlers.booking_event import booking_event
from notifier.settings import NotifierSettings
from service_kit.runtime import ServiceDefinition


def _is_booking_event(model: type) -> bool:
    return issubclass(model, BookingEvent)


SERVICE = ServiceDefinition(
    name="notifier",
    title="Notifier service",
    settings_factory=NotifierSettings,  # type: ignore[arg-type]
    metadata=tables.metadata,
    outbox_table=tables.outbox,
    inbox_table=tables.inbox,
    routers=lambda wiring: [router(wiring)],
    subscriptions=lambda wiring: [
        # Event topics grow new types; an old notifier skips what it does not know.
        Subscription(BOOKING_EVENTS, {}, ignore_unknown=True, catch_all=booking_event)
    ],
)
