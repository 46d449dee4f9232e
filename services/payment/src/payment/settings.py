from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from service_kit.settings import ServiceSettings


class PaymentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "payment"
    default_port: ClassVar[int] = 8003

    # How long a payment waiting for the guest (3-D Secure, a bank transfer) stays open when
    # the command names no pay_by; then it is canceled and the saga hears PaymentDeclined.
    action_deadline_s: float = Field(default=30 * 60, gt=0, le=30 * 24 * 3600)
    expiry_interval_s: float = Field(default=5.0, gt=0, le=3600)
    # Shared secret of the simulated card provider's signed webhooks; without it the webhook
    # endpoint refuses every call.
    sim_webhook_secret: SecretStr | None = None
    webhook_tolerance_s: int = Field(default=300, ge=10, le=3600)
    # The simulated card provider's test methods (pm_card_visa, ...) confirm bookings without
    # taking money: for development and tests only, refused under PLATFORM_PROFILE=production.
    test_methods_enabled: bool = False

    def model_post_init(self, __context: object) -> None:
        super().model_post_init(__context)
        if self.test_methods_enabled and self.profile == "production":
            raise ValueError(
                "PAYMENT_TEST_METHODS_ENABLED=true is refused under PLATFORM_PROFILE=production: "
                "test cards confirm bookings without taking money. Use it only with "
                "PLATFORM_PROFILE=development."
            )
