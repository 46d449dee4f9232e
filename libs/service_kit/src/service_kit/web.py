"""The FastAPI app factory: health, readiness, metrics, problem details and trace context."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from messaging import logcontext, tracing
from service_kit import docs_ui, problems
from service_kit.auth import TokenVerifier
from service_kit.clients import parse_networks
from service_kit.db import warn_if_unwalled
from service_kit.health import dependency_checks
from service_kit.ratelimit import RateLimiter
from service_kit.settings import ServiceSettings

REQUESTS = Counter("http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram("http_request_seconds", "HTTP request latency", ["service", "method", "route"])


# A JSON \u0000 escape, not an escaped backslash followed by "u0000".
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_NUL = problems.Problem(
    422,
    "invalid-character",
    "Invalid character",
    "Text may not contain the NUL character (U+0000).",
)


def _too_large(limit: int) -> problems.Problem:
    return problems.Problem(
        413,
        "body-too-large",
        "Request body too large",
        f"A request body may have at most {limit} bytes.",
    )


class RejectNul:
    """No text reaches the database with U+0000 in it (Postgres cannot store it, and the query
    would fail as a 500): a path, query or JSON body that carries one is a 422 problem before
    any route runs. A body is read whole first (API bodies are small) and handed on as it was.

    Bodies are capped at ``max_body_bytes`` (``<SERVICE>_MAX_BODY_BYTES``), before anything
    else runs (authentication included): a declared Content-Length past it is refused with 413
    unread, and a body streamed without one is refused as soon as it passes the cap, so no
    more than the cap is ever held in memory."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = 256 * 1024) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query or "\x00" in scope["path"]:
            await self._refuse(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._refuse(scope, receive, send, _too_large(self.max_body_bytes))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._refuse(scope, receive, send, _too_large(self.max_body_bytes))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _JSON_NUL.search(body):
            await self._refuse(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, problem: problems.Problem = _NUL
    ) -> None:
        await problems.problem_response(problem, Request(scope))(scope, receive, send)


class TraceAndMeasure:
    """Every request runs in one log scope and one SERVER span under the caller's
    ``traceparent``; the answer carries the span's own ``traceparent``; the request counter and
    latency histogram are labelled by route. A plain ASGI middleware: Starlette's
    ``BaseHTTPMiddleware`` would run each request in a task of its own behind memory streams."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        parent = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"traceparent"), None
        )
        status = 500  # unless an answer starts: an exception escaped
        with (
            logcontext.scope(),
            tracing.span(
                parent,
                method,
                kind=tracing.SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": scope["path"]},
            ) as span,
        ):

            async def send_traced(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    path = _route(scope)
                    span.update_name(f"{method} {path}")
                    span.set_attribute("http.route", path)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(tracing.Status(tracing.StatusCode.ERROR))
                    traceparent = (tracing.current() or "").encode("latin-1")
                    headers = [(k, v) for k, v in message.get("headers", ()) if k != b"traceparent"]
                    message = {**message, "headers": [*headers, (b"traceparent", traceparent)]}
                await send(message)

            try:
                await self.app(scope, receive, send_traced)
            finally:
                path = _route(scope)
                REQUESTS.labels(self.service, method, path, status).inc()
                LATENCY.labels(self.service, method, path).observe(time.perf_counter() - started)


def _route(scope: Scope) -> str:
    """The matched route's template (``/api/v1/bookings/{booking_id}``), or ``unmatched``."""
    return getattr(scope.get("route"), "path", "unmatched")


def create_app(
    *,
    title: str,
    service: str,
    engine: AsyncEngine,
    settings: ServiceSettings,
    routers: list[APIRouter],
    authenticate: bool = False,
    rate_limited: bool = False,
) -> FastAPI:
    """``authenticate``: the routers use ``service_kit.auth``; the signing keys must be
    configured, or the app refuses to start (never an open API by accident)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await warn_if_unwalled(engine)
        yield
        await engine.dispose()

    openapi_url = "/api/v1/openapi.json"
    app = FastAPI(
        title=title,
        version="1.0.0",
        lifespan=lifespan,
        openapi_url=openapi_url,
        docs_url=None,
        redoc_url=None,
    )
    problems.install(app)
    docs_ui.install(app, openapi_url)
    app.add_middleware(RejectNul, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(TraceAndMeasure, service=service)  # outermost: it sees every answer
    app.state.trusted_proxies = parse_networks(settings.trusted_proxies)
    if authenticate:
        app.state.token_verifier = TokenVerifier.from_settings(settings)
    if rate_limited:  # the service's migrations made service_kit.ratelimit's table
        app.state.rate_limiter = RateLimiter(
            engine, settings.rate_limit_guest_per_min, settings.rate_limit_address_per_min
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers. Never checks dependencies."""
        return {"status": "ok", "service": service}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        """Readiness: the database and Kafka answer."""
        checks = await dependency_checks(engine, settings.kafka_bootstrap_servers)
        ready = all(v == "ok" for v in checks.values())
        if ready:
            return JSONResponse({"status": "ready", "checks": checks})
        return problems.problem_response(
            problems.Problem(
                503, "not-ready", "Not ready", "A dependency is unavailable.", checks=checks
            )
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    return app
