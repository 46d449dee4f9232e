"""The one place a payment process is wired."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from contracts.payment import (
    AuthorizePayment,
    CapturePayment,
    RefundPayment,
    VerifyPayment,
    VoidPayment,
)
from contracts.topics import PAYMENT_COMMANDS
from messaging.runner import Subscription
from payment.adapters import tables
from payment.adapters.desk import PaymentDesk
from payment.adapters.providers import Providers
from payment.api.routes import router
from payment.handlers import (
    authorize_payment,
    capture_payment,
    payment_expiry,
    refund_payment,
    verify_payment,
    void_payment,
)
from payment.settings import PaymentSettings
from service_kit.db import make_engine
from service_kit.runtime import ServiceDefinition, Wiring


def _desk(wiring: Wiring) -> PaymentDesk:
    """One desk per process. Provider calls (and their log) get a pool of their own: they run
    while a request or handler holds a connection and a payment lock, and must never wait for
    the pool those holders exhaust."""
    desk = wiring.__dict__.get("payment_desk")
    if desk is None:
        settings = wiring.settings
        assert isinstance(settings, PaymentSettings)
        provider_engine = make_engine(
            settings.database_url.get_secret_value(), pool_size=4, timeouts=settings.db_timeouts
        )
        desk = PaymentDesk(
            Providers(provider_engine, test_methods=settings.test_methods_enabled),
            wiring.outbox,
            timedelta(seconds=settings.action_deadline_s),
        )
        wiring.__dict__["payment_desk"] = desk
    return desk


def _subscriptions(wiring: Wiring) -> list[Subscription]:
    desk = _desk(wiring)
    return [
        Subscription(
            PAYMENT_COMMANDS,
            {
                AuthorizePayment: authorize_payment.handler(desk),
                CapturePayment: capture_payment.handler(desk),
                VoidPayment: void_payment.handler(desk),
                RefundPayment: refund_payment.handler(desk),
                VerifyPayment: verify_payment.handler(desk),
            },
        )
    ]


def _background(wiring: Wiring) -> list[Callable[[], Awaitable[None]]]:
    settings = wiring.settings
    assert isinstance(settings, PaymentSettings)
    return [payment_expiry.job(wiring.engine, _desk(wiring), settings.expiry_interval_s)]


SERVICE = ServiceDefinition(
    name="payment",
    title="Payment service",
    authenticated_api=True,
    settings_factory=PaymentSettings,  # type: ignore[arg-type]
    metadata=tables.metadata,
    outbox_table=tables.outbox,
    inbox_table=tables.inbox,
    routers=lambda wiring: [router(wiring, _desk(wiring))],
    subscriptions=_subscriptions,
    background=_background,
)
