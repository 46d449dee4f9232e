from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from service_kit.settings import ServiceSettings


class PricingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PRICING_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "pricing"
    default_port: ClassVar[int] = 8002
    # Asked whether a rate plan's resource or venue is the caller's tenant's own.
    inventory_url: str = "http://127.0.0.1:8001"
