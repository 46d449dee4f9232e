"""The wiring of one service process: what ``bootstrap.py`` of each service declares, and the
three process roles built from it (web, worker, relay), all written once here.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from prometheus_client import Gauge
from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from messaging import admin, tenancy
from messaging.deliveries import Deliveries
from messaging.inbox import Inbox
from messaging.jobs import periodic
from messaging.kafka import reliable_producer
from messaging.outbox import Outbox
from messaging.relay import OutboxRelay, RelayConfig
from messaging.runner import ConsumerRunner, RetryPolicy, Subscription
from service_kit import logs, telemetry
from service_kit.db import make_engine, raw_connector, redact, warn_if_unwalled
from service_kit.ops import ops_server
from service_kit.settings import ServiceSettings
from service_kit.web import create_app

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Wiring:
    """Process-wide collaborators handed to routes and handlers."""

    settings: ServiceSettings
    engine: AsyncEngine
    outbox: Outbox
    inbox: Inbox
    # A service's own process-wide collaborators (a client of another service, with its
    # connection pool), by type: ``wiring.extras[Places] = ...``, then ``wiring.of(Places)``.
    extras: dict[type, Any] = field(default_factory=dict)

    def of(self, kind: type[T]) -> T:
        found = self.extras[kind]
        assert isinstance(found, kind)
        return found


def wiring_of(request: Request) -> Wiring:
    """The process's wiring, for routes written as module-level functions."""
    wiring: Wiring = request.app.state.wiring
    return wiring


AppWiring = Annotated[Wiring, Depends(wiring_of)]


@dataclass
class ServiceDefinition:
    """What makes a service: declared once in its ``bootstrap.py``."""

    name: str
    settings_factory: Callable[[], ServiceSettings]
    metadata: MetaData
    outbox_table: Table
    inbox_table: Table
    routers: Callable[[Wiring], list[APIRouter]]
    subscriptions: Callable[[Wiring], list[Subscription]] = field(default=lambda w: [])
    # Long-running jobs of the worker process (timers, sweepers); each must be safe to run in
    # several replicas at once.
    background: Callable[[Wiring], list[Callable[[], Awaitable[None]]]] = field(
        default=lambda w: []
    )
    title: str = ""
    # The API needs bearer tokens (service_kit.auth); the web process refuses to start without
    # signing keys configured.
    authenticated_api: bool = False
    # Its write routes that carry service_kit.ratelimit.RATE_LIMITED are counted (its
    # migrations add the table).
    rate_limited_api: bool = False

    def wire(self, settings: ServiceSettings | None = None, process: str = "web") -> Wiring:
        """``process``: the role (web, worker, relay) this process plays, for its spans."""
        settings = settings or self.settings_factory()
        logs.configure(self.name, settings.log_level, settings.log_json)
        telemetry.configure(self.name, process)
        engine = make_engine(
            settings.database_url.get_secret_value(),
            pool_size=settings.db_pool_size,
            timeouts=settings.db_timeouts,
        )
        return Wiring(
            settings=settings,
            engine=engine,
            outbox=Outbox(self.outbox_table, settings.source),
            inbox=Inbox(self.inbox_table),
        )

    # -- roles --------------------------------------------------------------------------------

    def web_app(self, wiring: Wiring | None = None) -> FastAPI:
        wiring = wiring or self.wire()
        app = create_app(
            title=self.title or f"{self.name} service",
            service=self.name,
            engine=wiring.engine,
            settings=wiring.settings,
            routers=self.routers(wiring),
            authenticate=self.authenticated_api,
            rate_limited=self.rate_limited_api,
        )
        app.state.wiring = wiring
        return app

    def relay(self, wiring: Wiring) -> OutboxRelay:
        s = wiring.settings
        return OutboxRelay(
            connect=raw_connector(s.database_url.get_secret_value(), s.db_timeouts),
            producer_factory=lambda: reliable_producer(
                s.kafka_bootstrap_servers, f"{self.name}-relay"
            ),
            config=RelayConfig(
                service=self.name,
                batch_size=s.relay_batch_size,
                poll_interval_s=s.relay_poll_interval_s,
                retention_s=s.outbox_retention_s,
            ),
        )

    def consumer_runner(self, wiring: Wiring) -> ConsumerRunner:
        s = wiring.settings
        bookkeeping = make_engine(
            s.database_url.get_secret_value(), pool_size=2, timeouts=s.db_timeouts, bookkeeping=True
        )
        return ConsumerRunner(
            consumer_name=f"{self.name}-worker",
            bootstrap_servers=s.kafka_bootstrap_servers,
            engine=wiring.engine,
            outbox=wiring.outbox,
            inbox=wiring.inbox,
            subscriptions=self.subscriptions(wiring),
            retry=RetryPolicy(
                max_crashes=s.consumer_max_crashes, handoff_after_s=s.consumer_handoff_after_s
            ),
            session_timeout_s=s.consumer_session_timeout_s,
            fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
            max_batch=s.consumer_max_batch,
            background=list(self.background(wiring)),
            deliveries=Deliveries(bookkeeping, f"{self.name}-worker"),
        )


def run_web(definition: ServiceDefinition) -> None:
    import uvicorn

    wiring = definition.wire()
    app = definition.web_app(wiring)
    log.info(
        "serving %s on %s:%s", definition.name, wiring.settings.http_host, wiring.settings.port
    )
    uvicorn.run(
        app,
        host=wiring.settings.http_host,
        port=wiring.settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )


def run_worker(definition: ServiceDefinition) -> None:
    """faust worker for the service's subscriptions; embeds a relay unless told not to."""
    import faust

    # Platform work across tenants, except where a handler acts for its message's tenant.
    tenancy.act_for(None)
    wiring = definition.wire(process="worker")
    runner = definition.consumer_runner(wiring)
    if wiring.settings.relay_embedded:
        relay = definition.relay(wiring)
        runner.background.append(relay.run)
    runner.background.append(inbox_purge_job(wiring))
    runner.background.append(lag_job(wiring, runner))
    if ops := _ops_job(definition, wiring, "worker", runner.stall):
        runner.background.append(ops)
    asyncio.run(wait_for_database(wiring.engine))
    app = runner.build_app()
    log.info(
        "worker %s: kafka=%s db=%s",
        definition.name,
        wiring.settings.kafka_bootstrap_servers,
        redact(wiring.settings.database_url.get_secret_value()),
    )
    worker = faust.Worker(app, loglevel=wiring.settings.log_level.lower(), quiet=True)
    # faust's worker installs its own logging; put ours back so every line stays JSON.
    worker.on_setup_root_logger = lambda *a, **k: logs.configure(  # type: ignore[method-assign]
        definition.name, wiring.settings.log_level, wiring.settings.log_json
    )
    worker.execute_from_commandline()


def inbox_purge_job(wiring: Wiring, every_s: float = 600.0) -> Callable[[], Awaitable[None]]:
    """Forget inbox rows older than the retention (longer than any topic keeps a message)."""

    async def tick() -> bool:
        async with wiring.engine.begin() as conn:
            removed = await wiring.inbox.purge(conn, wiring.settings.inbox_retention_s)
        return removed > 0  # a full batch may mean more: go again at once

    return periodic("inbox-purge", every_s, tick)


CONSUMER_LAG = Gauge(
    "consumer_lag_messages",
    "Messages a consumer group has yet to apply, per partition (every member reports its "
    "group's: aggregate with max)",
    ["consumer", "topic", "partition"],
)
DLQ_DEPTH = Gauge(
    "dlq_depth_messages",
    "Messages held in the dead-letter topic of a topic this service consumes",
    ["topic"],
)


def lag_job(
    wiring: Wiring, runner: ConsumerRunner, every_s: float = 15.0
) -> Callable[[], Awaitable[None]]:
    """The worker's group lag and its topics' dead-letter depth, from Kafka, for /metrics."""
    session = admin.AdminSession(wiring.settings.kafka_bootstrap_servers)
    consumed = sorted({s.topic.name for s in runner.subscriptions})
    dlqs = sorted({s.topic.dlq.name for s in runner.subscriptions})

    async def tick() -> bool:
        for row in await session.lag([runner.consumer_name], {runner.consumer_name: consumed}):
            CONSUMER_LAG.labels(row.group, row.topic, str(row.partition)).set(row.lag)
        for info in await session.topics(dlqs):
            DLQ_DEPTH.labels(info.name).set(info.messages)
        return False

    return periodic("consumer-lag", every_s, tick, finally_=session.close)


async def wait_for_database(engine: AsyncEngine, every_s: float = 2.0) -> None:
    """Block until the database answers: a worker joins its consumer group only when it can
    apply what it is given (after a hand-off, or started during an outage, it waits here
    instead of taking partitions it would stall on)."""
    waited = 0.0
    while True:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            break
        except Exception as exc:
            if waited == 0 or waited % 30 < every_s:
                log.warning("waiting for the database (%s)", type(exc).__name__)
            await asyncio.sleep(every_s)
            waited += every_s
    await warn_if_unwalled(engine)
    # The pool's connections belong to this loop; the worker's loop opens its own.
    await engine.dispose()


def _ops_job(
    definition: ServiceDefinition,
    wiring: Wiring,
    role: str,
    stall: Callable[[], str | None] | None = None,
) -> Callable[[], Coroutine[Any, Any, None]] | None:
    s = wiring.settings
    if not s.ops_port:
        return None
    return ops_server(
        definition.name,
        role,
        wiring.engine,
        s.kafka_bootstrap_servers,
        s.http_host,
        s.ops_port,
        stall=stall,
    )


def run_relay(definition: ServiceDefinition) -> None:
    """A standalone relay process (Helm runs these as their own Deployment)."""

    async def main() -> None:
        tenancy.act_for(None)  # the outbox is the platform's
        wiring = definition.wire(process="relay")
        relay = definition.relay(wiring)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, relay.stop)
        ops = _ops_job(definition, wiring, "relay")
        ops_task = asyncio.create_task(ops()) if ops else None
        try:
            await relay.run()
        finally:
            if ops_task:
                ops_task.cancel()
                await asyncio.gather(ops_task, return_exceptions=True)
            await wiring.engine.dispose()

    asyncio.run(main())
