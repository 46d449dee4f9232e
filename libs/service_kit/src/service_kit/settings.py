"""One settings class per service, read from the environment with the service's prefix.

``KAFKA_BOOTSTRAP_SERVERS`` is shared by all services (no prefix). Each service has its own
``<SERVICE>_DATABASE_URL``. The bearer-token settings (``AUTH_JWKS``, ``AUTH_JWKS_FILE``,
``AUTH_SIGNING_CERT``, ``AUTH_ISSUER``, ``AUTH_AUDIENCE``) are shared too. Values are validated
when the process starts; a bad value stops it with a message that never contains a secret.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.topics import max_retention_ms
from service_kit.clients import parse_networks
from service_kit.db import DbTimeouts

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: ClassVar[str]
    default_port: ClassVar[int]

    # The role the web, worker and relay connect as: not the tables' owner, not a superuser,
    # no BYPASSRLS, so row-level security holds it to one tenant per transaction.
    database_url: SecretStr
    # The role migrations run as, which owns the tables and grants the one above what it needs
    # (<SERVICE>_MIGRATIONS_DATABASE_URL); unset, migrations use database_url.
    migrations_database_url: SecretStr | None = None
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    http_host: str = "127.0.0.1"
    http_port: int = 0
    allow_public_bind: bool = False
    # Worker and standalone relay: /healthz, /readyz and /metrics on this port (0: off).
    ops_port: int = Field(default=0, ge=0, le=65535)
    # The proxies in front (the ingress controller, a load balancer), as CIDRs: only they are
    # believed about the client's address (X-Forwarded-For).
    trusted_proxies: str = Field(default="", validation_alias="TRUSTED_PROXIES")
    # Writes a minute on the public write paths (a service that has them): per guest token and
    # per client address, counted in the database across replicas; 0 turns one off.
    rate_limit_guest_per_min: int = Field(default=60, ge=0)
    rate_limit_address_per_min: int = Field(default=600, ge=0)
    # The largest request body accepted (413 past it, before the body is read or the caller
    # authenticated).
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    log_level: str = "INFO"
    log_json: bool = True
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # Every database connection's bounds (service_kit.db.DbTimeouts), in seconds; 0 is off.
    db_statement_timeout_s: float = Field(default=30.0, ge=0, le=3600)
    db_lock_timeout_s: float = Field(default=10.0, ge=0, le=3600)
    db_idle_in_transaction_timeout_s: float = Field(default=30.0, ge=0, le=3600)
    db_command_timeout_s: float = Field(default=40.0, ge=0, le=3600)
    db_keepalive_idle_s: int = Field(default=10, ge=1, le=7200)
    relay_embedded: bool = True
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    outbox_retention_s: float = Field(default=24 * 3600, ge=0)
    # Longer than any topic keeps a message, so a replay from the beginning applies nothing
    # twice (checked at start against contracts.topics).
    inbox_retention_s: float = Field(default=35 * 24 * 3600, ge=3600)
    # A record that this many worker processes died applying goes to the DLQ.
    consumer_max_crashes: int = Field(default=3, ge=1, le=100)
    # A record failing transiently this long: the worker gives up its partitions (0: never).
    consumer_handoff_after_s: float = Field(default=60.0, ge=0, le=3600)
    consumer_session_timeout_s: float = Field(default=10.0, ge=3, le=300)
    consumer_fetch_max_wait_ms: int = Field(default=500, ge=1, le=5000)
    # At most this many records already fetched are applied in one transaction (1: each alone).
    consumer_max_batch: int = Field(default=64, ge=1, le=1000)
    # Bearer tokens (service_kit.auth); shared by all services, like the Kafka address.
    # What the install is for. ``production`` (the default, what the chart sets) refuses
    # settings meant for development only (test payment methods, ...) at start-up.
    profile: Literal["development", "production"] = Field(
        default="production", validation_alias="PLATFORM_PROFILE"
    )
    # The identity provider's keys, fetched and refreshed (rotation): its JWKS URL, or its
    # OpenID Connect discovery document; else static keys (AUTH_JWKS, _FILE, AUTH_SIGNING_CERT).
    auth_jwks_url: str | None = Field(default=None, validation_alias="AUTH_JWKS_URL")
    auth_oidc_discovery_url: str | None = Field(
        default=None, validation_alias="AUTH_OIDC_DISCOVERY_URL"
    )
    auth_jwks_refresh_s: float = Field(
        default=600, ge=30, le=86400, validation_alias="AUTH_JWKS_REFRESH_S"
    )
    # Where the tenant and the roles are in the token (a dotted path for a nested claim, e.g.
    # Keycloak's realm_access.roles), and the longest lifetime (exp - iat) accepted.
    auth_tenant_claim: str = Field(default="tenant", validation_alias="AUTH_TENANT_CLAIM")
    auth_roles_claim: str = Field(default="roles", validation_alias="AUTH_ROLES_CLAIM")
    auth_max_token_lifetime_s: float = Field(
        default=24 * 3600, ge=60, le=30 * 86400, validation_alias="AUTH_MAX_TOKEN_LIFETIME_S"
    )
    auth_jwks: SecretStr | None = Field(default=None, validation_alias="AUTH_JWKS")
    auth_jwks_file: str | None = Field(default=None, validation_alias="AUTH_JWKS_FILE")
    auth_signing_cert: str | None = Field(default=None, validation_alias="AUTH_SIGNING_CERT")
    auth_issuer: str = Field(default="booking-platform", validation_alias="AUTH_ISSUER")
    auth_audience: str = Field(default="booking-platform-api", validation_alias="AUTH_AUDIENCE")
    auth_leeway_s: float = Field(default=30, ge=0, le=300, validation_alias="AUTH_LEEWAY_S")

    @field_validator("database_url", "migrations_database_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if not raw.startswith(("postgresql://", "postgresql+asyncpg://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        hosts = [h.strip() for h in value.split(",") if h.strip()]
        if not hosts or any(":" not in h for h in hosts):
            raise ValueError("must be host:port[,host:port...]")
        return ",".join(hosts)

    def model_post_init(self, __context: object) -> None:
        try:
            parse_networks(self.trusted_proxies)
        except ValueError:
            raise ValueError("TRUSTED_PROXIES must be CIDRs, comma-separated") from None
        longest_s = max_retention_ms() / 1000
        if self.inbox_retention_s <= longest_s:
            raise ValueError(
                f"inbox_retention_s must outlive every topic's retention ({longest_s:.0f} s): "
                "a replay from the beginning would otherwise apply old messages again"
            )
        if self.http_host not in _LOOPBACK and not self.allow_public_bind:
            raise ValueError(
                f"refusing to bind {self.http_host}: set ALLOW_PUBLIC_BIND=true to listen beyond "
                "loopback (in a container, behind a Service)"
            )

    @property
    def db_timeouts(self) -> DbTimeouts:
        return DbTimeouts(
            statement_s=self.db_statement_timeout_s,
            lock_s=self.db_lock_timeout_s,
            idle_in_transaction_s=self.db_idle_in_transaction_timeout_s,
            command_s=self.db_command_timeout_s,
            keepalive_idle_s=self.db_keepalive_idle_s,
        )

    @property
    def port(self) -> int:
        return self.http_port or self.default_port

    @property
    def source(self) -> str:
        """CloudEvents source of every message this service emits."""
        return f"/booking-platform/{self.service_name}"
