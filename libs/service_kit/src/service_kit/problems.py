"""RFC 9457 problem details: every error a client sees, in one shape.

Domain errors are mapped to a ``Problem`` at the edge (routes); nothing below the API layer
knows about HTTP.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from messaging.errors import is_transient
from service_kit.ids import canonical_uuid

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://booking-platform.dev/problems/"


class Problem(Exception):
    """Raise from a route to answer with ``application/problem+json``."""

    def __init__(
        self,
        status: int,
        type_: str,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.type = type_
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": TYPE_BASE + self.type,
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            doc["detail"] = self.detail
        if instance:
            doc["instance"] = instance
        doc.update(self.extensions)
        return doc


def uuid_or(value: str, problem: Problem) -> str:
    """``value`` as a canonical UUID string, or raise ``problem``: an id that is not a UUID names
    nothing that exists (a 404 for a path id, a 400 for a cursor)."""
    canonical = canonical_uuid(value)
    if canonical is None:
        raise problem
    return canonical


UNAVAILABLE = Problem(
    503,
    "service-unavailable",
    "Service unavailable",
    "A dependency of this service is unavailable; nothing was changed. Try again later.",
    headers={"Retry-After": "5"},
)


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    return JSONResponse(
        problem.body(request.url.path if request else None),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def _clean_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        out.append(
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or None,
                "message": err.get("msg"),
                "code": err.get("type"),
            }
        )
    return out


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem details object; extension members vary by type.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "required": ["type", "title", "status"],
    "additionalProperties": True,
}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def describe(doc: dict[str, Any]) -> dict[str, Any]:
    """Tell the truth about errors in an OpenAPI document: every 4xx and 5xx response is
    ``application/problem+json`` with the ``Problem`` schema, and each operation lists the
    errors every route of its kind can answer (401 and 403 when it needs a token, 404 when its
    path names something, 400 for a body that is not JSON, 422 for invalid input, 503 with
    ``Retry-After`` while its database is unavailable), besides the ones the route declares
    itself (409, 412, 428...)."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            responses = op.setdefault("responses", {})
            implied = {"503"}
            if op.get("parameters") or op.get("requestBody"):
                implied.add("422")
            if op.get("security"):
                implied |= {"401", "403"}
            if "{" in path:
                implied.add("404")
            cursor = any(p.get("name") == "cursor" for p in op.get("parameters", ()))
            if op.get("requestBody") or cursor:  # a body that is not JSON; a forged cursor
                implied.add("400")
            for code in implied:
                responses.setdefault(code, {})
            for code, response in responses.items():
                if code[0] in "45":
                    response["description"] = HTTPStatus(int(code)).phrase
                    response["content"] = {
                        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }
    # FastAPI's own validation error shapes: the API answers problems instead.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc


def _allowed_methods(app: FastAPI, request: Request) -> str:
    """Every method some route answers on this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            problem = Problem(
                400, "malformed-json", "Malformed JSON", "The request body is not valid JSON."
            )
        else:
            problem = Problem(
                422,
                "validation-error",
                "Invalid request",
                "One or more fields are invalid.",
                errors=_clean_errors(errors),
            )
        return problem_response(problem, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {
            404: "Not found",
            405: "Method not allowed",
            401: "Unauthorized",
            403: "Forbidden",
        }
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(app, request)
        problem = Problem(
            exc.status_code,
            f"http-{exc.status_code}",
            titles.get(exc.status_code, "Error"),
            str(exc.detail) if exc.detail else None,
            headers=headers,
        )
        return problem_response(problem, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_transient(exc):
            # The database (or Kafka) is away or busy: nothing was written (the transaction
            # rolled back); the client may try again, with the same Idempotency-Key.
            log.warning(
                "%s on %s: answering 503 (%s)",
                "dependency unavailable",
                request.url.path,
                type(exc).__name__,
            )
            return problem_response(UNAVAILABLE, request)
        # Never leak internals (or secrets inside them) to the client; the log has the details.
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(
            Problem(500, "internal-error", "Internal error", "The error has been logged."), request
        )
