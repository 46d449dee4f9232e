"""The one place a booking process is wired."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter

from booking.adapters import idempotency, tables
from booking.adapters.admission import Admission
from booking.adapters.waiting import StatusWaiters
from booking.api import actions, modify, routes, waitlist
from booking.api.places import Places
from booking.handlers import (
    payment_events,
    saga_gauges,
    saga_reply,
    step_deadlines,
    waitlist_offers,
)
from booking.settings import BookingSettings
from contracts.base import Reply
from contracts.inventory import CapacityReleasedEvent
from contracts.payment import LatePaymentReceived
from contracts.registry import REGISTRY
from contracts.topics import BOOKING_SAGA_REPLIES, INVENTORY_EVENTS, PAYMENT_EVENTS
from messaging.jobs import periodic
from messaging.runner import Subscription
from service_kit.db import raw_connector
from service_kit.inventory import InventoryClient
from service_kit.runtime import ServiceDefinition, Wiring

REPLY_TYPES = tuple(model for model in REGISTRY.values() if issubclass(model, Reply))


def _settings(wiring: Wiring) -> BookingSettings:
    assert isinstance(wiring.settings, BookingSettings)
    return wiring.settings


def _subscriptions(wiring: Wiring) -> list[Subscription]:
    settings = _settings(wiring)
    timing = settings.timing
    on_reply = saga_reply.handler(timing, settings.waitlist_offer_s)
    return [
        Subscription(BOOKING_SAGA_REPLIES, dict.fromkeys(REPLY_TYPES, on_reply)),
        Subscription(
            PAYMENT_EVENTS,
            {LatePaymentReceived: payment_events.handler(timing)},
            ignore_unknown=True,
        ),
        Subscription(
            INVENTORY_EVENTS,
            {
                CapacityReleasedEvent: waitlist_offers.on_capacity_released(
                    settings.waitlist_offer_s
                )
            },
            ignore_unknown=True,
        ),
    ]


def _idempotency_key_expiry(wiring: Wiring) -> Callable[[], Awaitable[None]]:
    """Keys live ``BOOKING_IDEMPOTENCY_TTL_S`` (24 h); expired ones are deleted here."""

    async def tick() -> bool:
        async with wiring.engine.begin() as conn:
            await idempotency.purge_expired(conn)
        return False

    return periodic("idempotency-key-expiry", 600.0, tick)


def _routers(wiring: Wiring) -> list[APIRouter]:
    # One inventory client (its connection pool and resource cache) for every route.
    settings = _settings(wiring)
    places = Places(InventoryClient(settings.inventory_url))
    wiring.extras[Places] = places
    wiring.extras[Admission] = Admission(
        wiring.engine,
        settings.max_in_flight_sagas,
        max_late=settings.admission_max_late_sagas,
        late_after_s=settings.admission_late_after_s,
    )
    wiring.extras[StatusWaiters] = StatusWaiters(
        raw_connector(settings.database_url.get_secret_value(), settings.db_timeouts),
        settings.max_prefer_waiters,
    )
    return [routes.api, actions.api, modify.api, waitlist.api]


def _background(wiring: Wiring) -> list[Callable[[], Awaitable[None]]]:
    settings = _settings(wiring)
    return [
        _idempotency_key_expiry(wiring),
        step_deadlines.job(
            wiring.engine,
            wiring.outbox,
            timing=settings.timing,
            max_attempts=settings.step_max_attempts,
            interval_s=settings.deadline_scan_interval_s,
            bootstrap=settings.kafka_bootstrap_servers,
        ),
        waitlist_offers.expiry_job(
            wiring.engine, wiring.outbox, interval_s=settings.deadline_scan_interval_s
        ),
        saga_gauges.job(wiring.engine, settings.step_timeout_s),
        payment_events.settle_job(
            wiring.engine, wiring.outbox, settings.timing, settings.deadline_scan_interval_s
        ),
    ]


SERVICE = ServiceDefinition(
    name="booking",
    title="Booking service",
    settings_factory=BookingSettings,  # type: ignore[arg-type]
    metadata=tables.metadata,
    outbox_table=tables.outbox,
    inbox_table=tables.inbox,
    authenticated_api=True,
    rate_limited_api=True,
    routers=_routers,
    subscriptions=_subscriptions,
    background=_background,
)
