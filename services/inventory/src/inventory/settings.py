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
    # Guests' holds (staff are not limited): how long one may be held or extended at a time,
    # how long it may live in all, and how many a guest may hold at once.
    guest_hold_max_ttl_s: float = Field(default=15 * 60, ge=60, le=24 * 3600)
    guest_hold_max_life_s: float = Field(default=60 * 60, ge=60, le=7 * 24 * 3600)
    guest_max_holds: int = Field(default=5, ge=1, le=1000)
    claim_expiry_interval_s: float = Field(default=1.0, gt=0, le=3600)
