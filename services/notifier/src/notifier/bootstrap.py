"""The one place a notifier process is wired."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from contracts.booking import BookingEvent, WaitlistEvent
from contracts.registry import REGISTRY
from contracts.topics import BOOKING_EVENTS
from messaging.jobs import periodic
from messaging.runner import Handler, Subscription
from notifier.adapters import sealing, tables
from notifier.adapters.http import webhook_client
from notifier.adapters.smtp import SmtpMailer
from notifier.api import routes, webhooks
from notifier.dispatch import Dispatcher, job
from notifier.handlers.booking_event import Notify
from notifier.settings import NotifierSettings
from service_kit.db import make_engine
from service_kit.runtime import ServiceDefinition, Wiring


def _settings(wiring: Wiring) -> NotifierSettings:
    assert isinstance(wiring.settings, NotifierSettings)
    return wiring.settings


def _subscriptions(wiring: Wiring) -> list[Subscription]:
    notify = Notify(_settings(wiring))
    handlers: dict[type, Handler] = {}
    for model in REGISTRY.values():
        if issubclass(model, BookingEvent):
            handlers[model] = notify.booking_event
        elif issubclass(model, WaitlistEvent):
            handlers[model] = notify.waitlist_event
    # Event topics grow new types; an old notifier skips what it does not know.
    return [Subscription(BOOKING_EVENTS, handlers, ignore_unknown=True)]


def _background(wiring: Wiring) -> list[Callable[[], Awaitable[None]]]:
    settings = _settings(wiring)
    # The dispatcher's platform work acts for every tenant: on a pool of its own, the
    # consumer's connections stay told their tenant (a change costs a round trip each time).
    dispatch_engine = make_engine(
        settings.database_url.get_secret_value(),
        pool_size=max(2, min(8, settings.dispatch_concurrency // 2)),
        timeouts=settings.db_timeouts,
    )
    dispatcher = Dispatcher(
        dispatch_engine,
        settings,
        SmtpMailer(settings),
        webhook_client(settings.allowed_networks, settings.webhook_timeout_s),
    )
    box = settings.secret_box
    engine = wiring.engine

    async def reseal_tick() -> bool:
        await sealing.reseal(engine, box)
        return False

    # Secrets from before sealing, or sealed under a key that was rotated out, are sealed
    # under the current key soon after start and then every ten minutes.
    return [
        job(dispatcher, settings.dispatch_interval_s),
        periodic("webhook-secret-reseal", 600.0, reseal_tick),
    ]


SERVICE = ServiceDefinition(
    name="notifier",
    title="Notifier service",
    settings_factory=NotifierSettings,  # type: ignore[arg-type]
    metadata=tables.metadata,
    outbox_table=tables.outbox,
    inbox_table=tables.inbox,
    authenticated_api=True,
    routers=lambda wiring: [routes.router(wiring), webhooks.router(wiring)],
    subscriptions=_subscriptions,
    background=_background,
)
