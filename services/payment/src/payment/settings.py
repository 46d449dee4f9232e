from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from service_kit.settings import ServiceSettings


class PaymentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "payment"
    default_port: ClassVar[int] = 8003
