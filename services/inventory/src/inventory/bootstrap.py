"""The one place an inventory process is wired."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from contracts.inventory import ConfirmReservation, ExtendHold, ReleaseCapacity, ReserveCapacity
from contracts.topics import INVENTORY_COMMANDS
from inventory.adapters import tables
from inventory.adapters.ledger import Ledger
from inventory.api import availability, blackouts, groups, holds, search, slots, venues
from inventory.api.routes import router
from inventory.handlers import (
    claim_expiry,
    confirm_reservation,
    extend_hold,
    release_capacity,
    reserve_capacity,
)
from inventory.settings import InventorySettings
from messaging.runner import Subscription
from service_kit.runtime import ServiceDefinition, Wiring


def _settings(wiring: Wiring) -> InventorySettings:
    assert isinstance(wiring.settings, InventorySettings)
    return wiring.settings


def _subscriptions(wiring: Wiring) -> list[Subscription]:
    ledger = Ledger(wiring.outbox)
    return [
        Subscription(
            INVENTORY_COMMANDS,
            {
                ReserveCapacity: reserve_capacity.handler(ledger, _settings(wiring).hold_ttl_s),
                ConfirmReservation: confirm_reservation.handler(ledger),
                ReleaseCapacity: release_capacity.handler(ledger),
                ExtendHold: extend_hold.handler(ledger),
            },
        )
    ]


def _background(wiring: Wiring) -> list[Callable[[], Awaitable[None]]]:
    interval = _settings(wiring).claim_expiry_interval_s
    return [claim_expiry.job(wiring.engine, Ledger(wiring.outbox), interval)]


SERVICE = ServiceDefinition(
    name="inventory",
    title="Inventory service",
    authenticated_api=True,
    rate_limited_api=True,
    settings_factory=InventorySettings,  # type: ignore[arg-type]
    metadata=tables.metadata,
    outbox_table=tables.outbox,
    inbox_table=tables.inbox,
    routers=lambda wiring: [
        router(wiring),
        availability.router(wiring),
        holds.router(wiring, Ledger(wiring.outbox)),
        blackouts.router(wiring),
        groups.router(wiring),
        venues.router(wiring),
        search.router(wiring),
        slots.router(wiring, Ledger(wiring.outbox)),
    ],
    subscriptions=_subscriptions,
    background=_background,
)
