from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from service_kit.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "inventory"
    default_port: ClassVar[int] = 8001

    hold_ttl_s: float = Field(default=15 * 60, gt=0, le=24 * 3600)
    claim_expiry_interval_s: float = Field(default=1.0, gt=0, le=3600)
