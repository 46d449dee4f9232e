from __future__ import annotations

import ipaddress
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from notifier.adapters.sealing import SealingKeyError, SecretBox
from service_kit.settings import ServiceSettings

# Seals webhook secrets when no key is set, in development only: it is public (it is here).
DEVELOPMENT_KEY = "ZGV2ZWxvcG1lbnQtb25seS1ub3QtYS1zZWNyZXQtISE="

# Standard Webhooks' suggested schedule after the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h,
# 10 h, 10 h (about a day and a half in all), then the delivery has failed.
DEFAULT_SCHEDULE = "5,300,1800,7200,18000,36000,36000"


def _seconds_list(value: object) -> tuple[float, ...]:
    if isinstance(value, tuple | list):
        items = [float(v) for v in value]
    else:
        items = [float(v) for v in str(value).split(",") if v.strip()]
    if not items or any(v <= 0 for v in items):
        raise ValueError("must be a comma-separated list of positive seconds")
    return tuple(items)


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)
    service_name: ClassVar[str] = "notifier"
    default_port: ClassVar[int] = 8004

    # -- email -------------------------------------------------------------------------------
    email_enabled: bool = True
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # opportunistic: STARTTLS when the server offers it; starttls: required; tls: implicit TLS
    # (port 465); none: never (a sink on loopback).
    smtp_security: Literal["opportunistic", "starttls", "tls", "none"] = "opportunistic"
    smtp_timeout_s: float = Field(default=15.0, gt=0, le=300)
    email_from: str = "Booking platform <no-reply@booking.invalid>"
    default_locale: str = "en"

    # -- webhooks ----------------------------------------------------------------------------
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # Networks a webhook may target although they are not public (loopback, RFC 1918, ...).
    # Empty by default: private and loopback targets are refused (no SSRF into the cluster).
    webhook_allowed_networks: str = ""
    # Keys that seal webhook secrets at rest (Fernet, comma-separated; the first seals, any
    # opens: rotate by putting a new key first). Required under PLATFORM_PROFILE=production;
    # in development a fixed, public key is used when none is given.
    secrets_keys: SecretStr | None = None
    # An old secret keeps signing beside the new one this long after a rotation.
    webhook_rotation_grace_s: float = Field(default=24 * 3600, ge=0)
    webhook_max_retry_after_s: float = Field(default=24 * 3600, gt=0)

    # -- delivery schedule (email and webhooks) ----------------------------------------------
    retry_schedule_s: str = DEFAULT_SCHEDULE
    dispatch_interval_s: float = Field(default=0.5, gt=0, le=60)
    dispatch_batch_size: int = Field(default=50, ge=1, le=1000)
    dispatch_concurrency: int = Field(default=16, ge=1, le=256)

    @field_validator("retry_schedule_s")
    @classmethod
    def _schedule(cls, value: str) -> str:
        _seconds_list(value)
        return value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                ipaddress.ip_network(item.strip(), strict=False)
        return value

    @property
    def secret_box(self) -> SecretBox:
        """The keys that seal webhook secrets. The web and the worker ask for it as they are
        wired, so a missing (under the production profile) or malformed key stops them at
        start-up; the migrate job, which needs only the database, does not."""
        if self.secrets_keys is None:
            if self.profile == "production":
                raise SealingKeyError(
                    "NOTIFIER_SECRETS_KEYS is required under PLATFORM_PROFILE=production: the "
                    "key that seals webhook secrets at rest"
                )
            return SecretBox.of(DEVELOPMENT_KEY)
        return SecretBox.of(self.secrets_keys.get_secret_value())

    @property
    def schedule(self) -> tuple[float, ...]:
        return _seconds_list(self.retry_schedule_s)

    @property
    def allowed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(item.strip(), strict=False)
            for item in self.webhook_allowed_networks.split(",")
            if item.strip()
        )
