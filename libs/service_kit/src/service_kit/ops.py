"""The operations port of the processes without a REST API (worker, standalone relay):
``/healthz`` (liveness: the event loop answers), ``/readyz`` (Postgres and Kafka answer) and
``/metrics`` (Prometheus). Off unless ``<SERVICE>_OPS_PORT`` is set (Helm sets it; a laptop
running several workers of one service does not need it)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from service_kit.health import dependency_checks

log = logging.getLogger(__name__)


def ops_app(
    service: str,
    role: str,
    engine: AsyncEngine,
    bootstrap: str,
    stall: Callable[[], str | None] | None = None,
) -> web.Application:
    """``stall``: the consumer's report of a partition stuck on transient failures (readiness
    says so, though both dependencies may answer the probe)."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": service, "role": role})

    async def readyz(_: web.Request) -> web.Response:
        checks = await dependency_checks(engine, bootstrap)
        if stall is not None:
            checks["consumer"] = stall() or "ok"
        ready = all(v == "ok" for v in checks.values())
        body = {"status": "ready" if ready else "not-ready", "checks": checks}
        return web.Response(
            status=200 if ready else 503,
            text=json.dumps(body),
            content_type="application/json" if ready else "application/problem+json",
        )

    async def metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


def ops_server(
    service: str,
    role: str,
    engine: AsyncEngine,
    bootstrap: str,
    host: str,
    port: int,
    stall: Callable[[], str | None] | None = None,
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A long-running job serving the operations port until cancelled."""

    async def serve() -> None:
        runner = web.AppRunner(ops_app(service, role, engine, bootstrap, stall), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            # Not worth the process: it still consumes; the port is only for probes and scrapes.
            log.error("%s %s: cannot serve the operations port %s: %s", service, role, port, exc)
            await runner.cleanup()
            return
        log.info("%s %s: operations port on %s:%s", service, role, host, port)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    return serve
