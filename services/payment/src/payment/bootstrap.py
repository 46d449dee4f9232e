"""The one place a payment process is wired."""

from __future__ import annotations

from contracts.payment import AuthorizePayment, CapturePayment, VoidPayment
from contracts.topics import PAYMENT_COMMANDS
from messaging.runner import Subscription
from payment.adapters import tables
from payment.adapters.simulated_card import SimulatedCardProvider
from payment.api.routes import router
from payment.handlers import authorize_payment, capture_payment, void_payment
from payment.settings import PaymentSettings
from service_kit.runtime import ServiceDefinition, Wiring


def _subscriptions(wiring: Wiring) -> list[Subscription]:
    provider = SimulatedCardProvider()
    return [
        Subscription(
            PAYMENT_COMMANDS,
            {
                AuthorizePayment: authorize_payment.handler(provider),
                CapturePayment: capture_payment.handler(provider),
                VoidPayment: void_payment.handler(provider),
            },
        )
    ]


SERVICE = ServiceDefinition(
    name="payment",
    title="Payment service",
    settings_factory=PaymentSettings,  # type: ignore[arg-type]
    metadata=tables.metadata,
    outbox_table=tables.outbox,
    inbox_table=tables.inbox,
    routers=lambda wiring: [router(wiring)],
    subscriptions=_subscriptions,
)
