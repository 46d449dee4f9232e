"""The one place a pricing process is wired."""

from __future__ import annotations

from fastapi import APIRouter

from contracts.pricing import PriceBooking, QuoteRefund
from contracts.topics import PRICING_COMMANDS
from messaging.runner import Subscription
from pricing.adapters import tables
from pricing.api.routes import router
from pricing.handlers.price_booking import price_booking
from pricing.handlers.quote_refund import quote_refund
from pricing.settings import PricingSettings
from service_kit.inventory import InventoryClient
from service_kit.runtime import ServiceDefinition, Wiring


def _routers(wiring: Wiring) -> list[APIRouter]:
    settings = wiring.settings
    assert isinstance(settings, PricingSettings)
    return [router(wiring, InventoryClient(settings.inventory_url))]


SERVICE = ServiceDefinition(
    name="pricing",
    title="Pricing service",
    authenticated_api=True,
    settings_factory=PricingSettings,  # type: ignore[arg-type]
    metadata=tables.metadata,
    outbox_table=tables.outbox,
    inbox_table=tables.inbox,
    routers=_routers,
    subscriptions=lambda wiring: [
        Subscription(PRICING_COMMANDS, {PriceBooking: price_booking, QuoteRefund: quote_refund})
    ],
)
