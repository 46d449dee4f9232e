"""Runs the whole platform as real processes: Postgres, Kafka, migrations, topics and, per
service, a web process and a worker process (faust consumers + embedded outbox relay).

Used by ``make run`` (fixed ports), by the end-to-end tests (free ports, throwaway directory)
and by the benchmark. ``KAFKA_BOOTSTRAP_SERVERS`` and ``<SERVICE>_DATABASE_URL`` point at
external infrastructure instead; then nothing of that kind is started.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from contracts.topics import ALL_TOPICS, BOOKING_EVENTS
from devstack.images import infra_in_containers
from devstack.kafka import ADMIN as KAFKA_ADMIN
from devstack.kafka import REPO_ROOT, KafkaBroker, KafkaCluster
from devstack.postgres import EmbeddedPostgres
from devstack.procs import Proc, free_ports, port_open, spawn, wait_for
from devstack.tls import LocalCA
from devstack.tokens import AUDIENCE, DEFAULT_TENANT, ISSUER, KEY_FILE, DevKeys, local_secret
from messaging import acls, security
from messaging.admin import admin
from messaging.kafka import ensure_topics

SERVICES: dict[str, int] = {
    "booking": 8000,
    "inventory": 8001,
    "pricing": 8002,
    "payment": 8003,
    "notifier": 8004,
}
ROLES = ("web", "worker")
# The local broker's principals: one per service, and the analytics example's (a downstream
# consumer allowed to read booking.events only).
ANALYTICS_PRINCIPAL = "analytics"
KAFKA_PRINCIPALS = (*SERVICES, ANALYTICS_PRINCIPAL)


@dataclass
class PlatformConfig:
    workdir: Path
    http_ports: dict[str, int] = field(default_factory=lambda: dict(SERVICES))
    # Each worker's operations port (/healthz, /readyz, /metrics).
    ops_ports: dict[str, int] = field(
        default_factory=lambda: {s: p + 100 for s, p in SERVICES.items()}
    )
    kafka_port: int = 9092
    controller_port: int = 9093
    pg_port: int = 55432
    smtp_port: int = 2525  # the mail sink's, unless NOTIFIER_SMTP_HOST names a real relay
    pg_fsync: bool = True
    external_kafka: str | None = None
    # The local broker's one listener is SASL_SSL with per-service principals and ACLs, as a
    # production cluster should be (devstack.kafka); False: plain text, no ACLs.
    kafka_secured: bool = True
    # More than one: a KRaft cluster of that many nodes (devstack.kafka.KafkaCluster), node n
    # on kafka_port + 2n and controller_port + 2n; topics get that many replicas.
    kafka_brokers: int = 1
    kafka_ports: list[tuple[int, int]] | None = None  # each node's (client, controller) port
    external_db: dict[str, str] = field(default_factory=dict)
    service_env: dict[str, str] = field(default_factory=dict)
    log_json: bool = True
    # Kafka and Postgres in containers of their infra images (podman; devstack.images) rather
    # than as processes: PLATFORM_INFRA=containers.
    infra_containers: bool = field(default_factory=infra_in_containers)

    @classmethod
    def local(cls, workdir: Path | None = None) -> PlatformConfig:
        """Fixed, documented ports for ``make run``; honours the external-infra variables."""
        return cls(
            workdir=workdir or REPO_ROOT / ".local" / "platform",
            external_kafka=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            kafka_brokers=int(os.environ.get("PLATFORM_KAFKA_BROKERS") or 1),
            external_db={
                s: os.environ[f"{s.upper()}_DATABASE_URL"]
                for s in SERVICES
                if os.environ.get(f"{s.upper()}_DATABASE_URL")
            },
        )

    @classmethod
    def ephemeral(cls, workdir: Path, **overrides: object) -> PlatformConfig:
        """Free ports everywhere: for tests and benchmarks beside a running platform."""
        ports = free_ports(2 * len(SERVICES) + 4)
        config = cls(
            workdir=workdir,
            http_ports=dict(zip(SERVICES, ports, strict=False)),
            ops_ports=dict(zip(SERVICES, ports[len(SERVICES) :], strict=False)),
            kafka_port=ports[-4],
            controller_port=ports[-3],
            pg_port=ports[-2],
            smtp_port=ports[-1],
            pg_fsync=False,
            external_kafka=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        )
        for key, value in overrides.items():
            setattr(config, key, value)
        if config.kafka_brokers > 1 and config.kafka_ports is None:
            more = free_ports(2 * config.kafka_brokers)
            config.kafka_ports = list(zip(more[::2], more[1::2], strict=True))
        return config


class Platform:
    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        self.postgres: EmbeddedPostgres | None = None
        self.kafka: KafkaBroker | KafkaCluster | None = None
        self._saved_env: dict[str, str | None] = {}
        self.procs: dict[tuple[str, str], Proc] = {}
        self.mail_sink: Proc | None = None
        # The owner's (a superuser on the embedded server: tests and bpctl read every tenant's
        # rows with these); the services connect as app_database_urls (row-level security).
        self.database_urls: dict[str, str] = {}
        self.app_database_urls: dict[str, str] = {}
        self._state_written = False
        config.workdir.mkdir(parents=True, exist_ok=True)
        self.keys = DevKeys.load_or_create(config.workdir)
        self.webhook_secret = local_secret(config.workdir, "sim-webhook-secret")
        # The notifier's key that seals webhook secrets at rest (a Fernet key: 32 bytes).
        self.secrets_key = base64.urlsafe_b64encode(
            hashlib.sha256(local_secret(config.workdir, "secrets-key").encode()).digest()
        ).decode()

    # -- addresses ----------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        if self.config.external_kafka:
            return self.config.external_kafka
        assert self.kafka is not None
        return self.kafka.bootstrap

    @property
    def external_smtp(self) -> bool:
        return bool(
            os.environ.get("NOTIFIER_SMTP_HOST")
            or self.config.service_env.get("NOTIFIER_SMTP_HOST")
        )

    @property
    def maildir(self) -> Path:
        """Where the mail sink keeps what the notifier sent (a Maildir)."""
        return self.config.workdir / "mail"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.config.http_ports[service]}"

    def ops_url(self, service: str) -> str:
        """The worker's operations port: /healthz, /readyz, /metrics."""
        return f"http://127.0.0.1:{self.config.ops_ports[service]}"

    def _migrations_url(self, service: str) -> str:
        """An external database's owner URL, when one is given beside the services' URL."""
        given = os.environ.get(f"{service.upper()}_MIGRATIONS_DATABASE_URL")
        if service in self.config.external_db and given:
            return given
        return self.database_urls[service]

    def env_for(self, service: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        prefix = service.upper()
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            **self.kafka_env(service),
            f"{prefix}_DATABASE_URL": self.app_database_urls[service],
            f"{prefix}_MIGRATIONS_DATABASE_URL": self._migrations_url(service),
            f"{prefix}_HTTP_PORT": str(self.config.http_ports[service]),
            f"{prefix}_OPS_PORT": str(self.config.ops_ports[service]),
            f"{prefix}_LOG_JSON": "true" if self.config.log_json else "false",
            "BOOKING_INVENTORY_URL": self.url("inventory"),
            "PRICING_INVENTORY_URL": self.url("inventory"),
            "AUTH_JWKS": self.keys.jwks(),
            "AUTH_ISSUER": ISSUER,
            "AUTH_AUDIENCE": AUDIENCE,
            "PAYMENT_SIM_WEBHOOK_SECRET": self.webhook_secret,
            "NOTIFIER_SECRETS_KEYS": self.secrets_key,
            # The local platform is for development and tests: the test cards work.
            "PLATFORM_PROFILE": "development",
            # Tests stand in for the ingress: what they say in X-Forwarded-For is believed.
            "TRUSTED_PROXIES": "127.0.0.1/32",
            "PAYMENT_TEST_METHODS_ENABLED": "true",
            # No rate limits locally: tests drive hundreds of writes a minute from one address
            # and token (tests/e2e/test_rate_limits.py turns them on).
            f"{prefix}_RATE_LIMIT_GUEST_PER_MIN": "0",
            f"{prefix}_RATE_LIMIT_ADDRESS_PER_MIN": "0",
            "PYTHONUNBUFFERED": "1",
        }
        if not self.external_smtp:
            env |= {
                "NOTIFIER_SMTP_HOST": "127.0.0.1",
                "NOTIFIER_SMTP_PORT": str(self.config.smtp_port),
                "NOTIFIER_SMTP_SECURITY": "none",
            }
        # A local platform may call webhooks on this machine (production refuses loopback).
        env.setdefault("NOTIFIER_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
        env.update(self.config.service_env)
        env.update(extra or {})
        return env

    # -- lifecycle ----------------------------------------------------------------------------

    def _kafka_ports(self) -> list[tuple[int, int]]:
        cfg = self.config
        return cfg.kafka_ports or [
            (cfg.kafka_port + 2 * n, cfg.controller_port + 2 * n) for n in range(cfg.kafka_brokers)
        ]

    def _ensure_ports_free(self) -> None:
        """Refuse to start beside something else on our ports: we would talk to it instead."""
        cfg = self.config
        wanted = {f"{s} http": p for s, p in cfg.http_ports.items()}
        wanted |= {f"{s} ops": p for s, p in cfg.ops_ports.items()}
        if len(cfg.external_db) < len(SERVICES):
            wanted["postgres"] = cfg.pg_port
        if not cfg.external_kafka:
            for n, (client, controller) in enumerate(self._kafka_ports()):
                wanted |= {f"kafka {n + 1}": client, f"kafka controller {n + 1}": controller}
        if not self.external_smtp:
            wanted["mail sink"] = cfg.smtp_port
        if len(set(wanted.values())) < len(wanted):
            raise RuntimeError(f"two servers were given the same port: {wanted}")
        busy = [f"{name} ({port})" for name, port in wanted.items() if port_open(port)]
        if busy:
            raise RuntimeError(
                f"ports already in use: {', '.join(busy)}; is another platform running? "
                "(stop it, or point KAFKA_BOOTSTRAP_SERVERS / <SERVICE>_DATABASE_URL elsewhere)"
            )

    def start_infrastructure(self) -> None:
        cfg = self.config
        self._ensure_ports_free()
        cfg.workdir.mkdir(parents=True, exist_ok=True)
        missing_db = [s for s in SERVICES if s not in cfg.external_db]
        if missing_db:
            self.postgres = EmbeddedPostgres(
                cfg.workdir / "pg" / "data",
                cfg.pg_port,
                cfg.workdir / "logs" / "postgres.log",
                fsync=cfg.pg_fsync,
                container=cfg.infra_containers,
            )
            self.postgres.start()
            for service in missing_db:
                self.postgres.create_database(service)
                self.database_urls[service] = self.postgres.url(service)
                self.app_database_urls[service] = self.postgres.create_app_role(service)
        self.database_urls.update(cfg.external_db)
        self.app_database_urls.update(cfg.external_db)
        if not cfg.external_kafka:
            ca = LocalCA(cfg.workdir / "tls").ensure() if cfg.kafka_secured else None
            if cfg.kafka_brokers > 1:
                self.kafka = KafkaCluster(
                    cfg.workdir / "kafka-cluster",
                    cfg.kafka_brokers,
                    ca=ca,
                    principals=KAFKA_PRINCIPALS,
                    ports=self._kafka_ports(),
                    container=cfg.infra_containers,
                )
            else:
                self.kafka = KafkaBroker(
                    cfg.workdir / "kafka",
                    cfg.kafka_port,
                    cfg.controller_port,
                    ca=ca,
                    principals=KAFKA_PRINCIPALS,
                    container=cfg.infra_containers,
                )
            self.kafka.start()
            # This process (a launcher, the tests) speaks to Kafka as the admin, until stop()
            # puts back what it had (another platform of the same test session may follow).
            admin_env = self.kafka.client_env(KAFKA_ADMIN)
            self._saved_env = {name: os.environ.get(name) for name in admin_env}
            os.environ.update(admin_env)
        if not self.external_smtp:
            self.start_mail_sink()

    def start_mail_sink(self) -> None:
        """A real SMTP server on loopback keeping every message in ``maildir``."""
        port = self.config.smtp_port
        self.mail_sink = spawn(
            "mail-sink",
            [
                sys.executable,
                "-m",
                "devstack.mailsink",
                "--port",
                str(port),
                "--maildir",
                str(self.maildir),
            ],
            log_path=self.config.workdir / "logs" / "mail-sink.log",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=REPO_ROOT,
        )
        wait_for(lambda: port_open(port), 30, "the mail sink", proc=self.mail_sink)

    def create_database(self, name: str) -> str:
        """An extra database on the embedded server (tests use this)."""
        assert self.postgres is not None, "extra databases need the embedded Postgres"
        self.postgres.create_database(name)
        return self.postgres.url(name)

    def migrate(self) -> None:
        """Run every service's Alembic migrations, in parallel processes."""

        def one(service: str) -> None:
            proc = self.spawn_process(service, "migrate")
            code = proc.popen.wait(180)
            if code != 0:
                raise RuntimeError(f"migrations of {service} failed ({code}):\n{proc.tail()}")

        with concurrent.futures.ThreadPoolExecutor(len(SERVICES)) as pool:
            list(pool.map(one, SERVICES))

    def create_topics(self) -> list[str]:
        """The topics, and (on the local broker) every principal's ACLs."""

        async def create() -> list[str]:
            created = await ensure_topics(
                self.bootstrap, ALL_TOPICS, replication_factor=self.config.kafka_brokers
            )
            if self.kafka is not None and self.kafka.secured:
                async with admin(self.bootstrap) as client:
                    await acls.apply(client, acls.platform())
                    await acls.apply(
                        client,
                        acls.reader(ANALYTICS_PRINCIPAL, "booking-analytics", (BOOKING_EVENTS,)),
                    )
            return created

        return asyncio.run(create())

    def kafka_env(self, principal: str) -> dict[str, str]:
        """The KAFKA_* variables a process of ``principal`` needs (none for a plain broker,
        an external one's come from the environment)."""
        return self.kafka.client_env(principal) if self.kafka is not None else {}

    def kafka_kwargs(self, principal: str = KAFKA_ADMIN) -> dict[str, Any]:
        """``bootstrap_servers`` and security arguments for an aiokafka client of the tests."""
        secured = self.kafka.security(principal) if self.kafka is not None else None
        extra = secured.client_kwargs() if secured else security.client_kwargs()
        return {"bootstrap_servers": self.bootstrap, **extra}

    def spawn_process(
        self,
        service: str,
        role: str,
        extra_env: Mapping[str, str] | None = None,
        wrapper: tuple[str, ...] = (),
        name: str | None = None,
    ) -> Proc:
        """A process of ``service`` in ``role``, logged as ``name`` (default
        ``<service>-<role>``), that the platform does not track: a second replica, say; the
        caller stops it."""
        name = name or f"{service}-{role}"
        return spawn(
            name,
            [*wrapper, sys.executable, "-m", "service_kit.main", service, role],
            log_path=self.config.workdir / "logs" / f"{name}.log",
            env=self.env_for(service, extra_env),
            cwd=REPO_ROOT,
        )

    def start_service(
        self,
        service: str,
        role: str,
        extra_env: Mapping[str, str] | None = None,
        wrapper: tuple[str, ...] = (),
    ) -> Proc:
        """``wrapper``: a command the process runs under (``faketime -f -60s`` for a skewed
        clock, ``ip netns exec <ns>`` for a network of its own). A process started again
        after the platform came up is written to its state file (bpctl reads the pids)."""
        proc = self.spawn_process(service, role, extra_env, wrapper)
        self.procs[(service, role)] = proc
        if self._state_written:
            self.write_state()
        return proc

    def start_services(self, roles: tuple[str, ...] = ROLES) -> None:
        for service in SERVICES:
            for role in roles:
                self.start_service(service, role)
        self.wait_ready()

    def wait_ready(self, timeout: float = 120.0) -> None:
        with httpx.Client(timeout=2.0) as client:

            def ready(url: str) -> bool:
                return client.get(f"{url}/readyz").status_code == 200

            for (service, role), proc in self.procs.items():
                if role in ("web", "worker"):
                    url = self.url(service) if role == "web" else self.ops_url(service)
                    wait_for(
                        partial(ready, url), timeout, f"{service}-{role} to be ready", proc=proc
                    )

    def start(self) -> None:
        started = time.monotonic()
        self.start_infrastructure()
        self.migrate()
        self.create_topics()
        self.start_services()
        self.write_state()
        self.startup_s = time.monotonic() - started

    def write_state(self) -> None:
        state = {
            "urls": {s: self.url(s) for s in SERVICES},
            "ops_urls": {s: self.ops_url(s) for s in SERVICES},
            "kafka": self.bootstrap,
            # How bpctl speaks to the local broker (the admin principal; local secrets only).
            "kafka_env": self.kafka_env(KAFKA_ADMIN),
            "pids": {f"{s}-{r}": p.pid for (s, r), p in self.procs.items()},
            "postgres_pid": self.postgres.pid if self.postgres else None,
            # The embedded server trusts loopback: this admin URL carries no secret.
            "postgres_admin_url": self.postgres.url("postgres") if self.postgres else None,
            "kafka_pid": self.kafka.pid if self.kafka else None,
            "mail_sink_pid": self.mail_sink.pid if self.mail_sink else None,
            "maildir": str(self.maildir) if self.mail_sink else None,
            "signing_key": str(self.config.workdir / KEY_FILE),
            # The process that owns this platform: stopping it stops everything.
            "launcher_pid": os.getpid(),
            # Only the embedded server's (it trusts loopback: no password in them); an external
            # database's URL stays in the environment it came from.
            "database_urls": {
                s: url for s, url in self.database_urls.items() if s not in self.config.external_db
            },
        }
        (self.config.workdir / "state.json").write_text(json.dumps(state, indent=2))
        self._state_written = True

    def token(
        self, tenant: str = DEFAULT_TENANT, roles: tuple[str, ...] = ("admin",), **kw: Any
    ) -> str:
        """A development bearer token for this platform's services."""
        return self.keys.mint(tenant=tenant, roles=roles, **kw)

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}

    def stop(self) -> None:
        """Stop everything this platform started, services first, then Kafka, then Postgres."""
        self._restore_env()
        for proc in reversed(list(self.procs.values())):
            proc.stop(timeout=15)
        self.procs.clear()
        if self.mail_sink is not None:
            self.mail_sink.stop(timeout=10)
            self.mail_sink = None
        if self.kafka is not None:
            self.kafka.stop()
            self.kafka = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        if self._state_written:  # never another platform's (one that refused to start beside it)
            (self.config.workdir / "state.json").unlink(missing_ok=True)
            self._state_written = False

    def __enter__(self) -> Platform:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
