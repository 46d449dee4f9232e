"""The one place an inventory process is wired."""

from __future__ import annotations

from contracts.inventory import ConfirmReservation, ReleaseCapacity, ReserveCapacity
from contracts.topics import INVENTORY_COMMANDS
from inventory.adapters import tables
from inventory.api import availability
from inventory.api.routes import router
from inventory.handlers.confirm_reservation import confirm_reservation
from inventory.handlers.release_capacity import release_capacity
from inventory.handlers.reserve_capacity import handler as reserve_capacity_handler
from inventory.settings import InventorySettings
from messaging.runner import Subscription
from service_kit.runtime import ServiceDefinition, Wiring


def _subscriptions(wiring: Wiring) -> list[Subscription]:
    settings = wiring.settings
    assert isinstance(settings, InventorySettings)
    return [
        Subscription(
            INVENTORY_COMMANDS,
            {
                ReserveCapacity: reserve_capacity_handler(settings.hold_ttl_s),
                ConfirmReservation: confirm_reservation,
                ReleaseCapacity: release_capacity,
            },
        )
    ]


SERVICE = ServiceDefinition(
    name="inventory",
    title="Inventory service",
    settings_factory=InventorySettings,  # type: ignore[arg-type]
    metadata=tables.metadata,
    outbox_table=tables.outbox,
    inbox_table=tables.inbox,
    routers=lambda wiring: [router(wiring), availability.router(wiring)],
    subscriptions=_subscriptions,
)
