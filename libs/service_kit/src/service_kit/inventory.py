"""Asks inventory, over its REST API, about what a caller's tenant owns: a resource (or
group), a slot, a venue. Booking asks before a booking is written (so a booking for something
that does not exist is refused with a 4xx, and the booking knows the resource's venue, timezone
and check-in time); pricing asks before a rate plan is made (only for the tenant's own resource
or venue).

The caller's bearer token is forwarded: inventory answers for the caller's tenant only, so a
resource of another tenant is as unknown here as one that does not exist. Answers are cached
briefly per token digest (resources are not deleted; deactivation is enforced by inventory
inside the saga). Slots are not cached: they can be cancelled.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any
from urllib.parse import quote

import httpx

from messaging import tracing
from service_kit.problems import Problem


class InventoryUnavailable(Exception):
    pass


class InventoryRefusedCaller(Exception):
    """Inventory refused the caller's token (401) or role (403)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"inventory answered {status}")
        self.status = status


class InventoryClient:
    def __init__(self, base_url: str, cache_ttl_s: float = 60.0, cache_size: int = 10_000) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(3.0))
        self._known: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._ttl = cache_ttl_s
        self._size = cache_size

    async def _get(self, path: str, token: str | None, route: str) -> dict[str, Any] | None:
        """``route``: the path template, naming the CLIENT span (the path holds ids)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with tracing.span(
            tracing.current(),
            f"GET {route}",
            kind=tracing.SpanKind.CLIENT,
            attributes={"http.request.method": "GET", "url.template": route},
        ) as span:
            headers["traceparent"] = tracing.traceparent_of(span)
            try:
                response = await self._client.get(path, headers=headers)
            except httpx.HTTPError as exc:
                raise InventoryUnavailable(str(exc)) from exc
            span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code == 200:
            doc: dict[str, Any] = response.json()
            return doc
        if response.status_code in (401, 403):
            raise InventoryRefusedCaller(response.status_code)
        if response.status_code != 404:
            raise InventoryUnavailable(f"inventory answered {response.status_code}")
        return None

    async def resource(self, resource_id: str, token: str | None) -> dict[str, Any] | None:
        """The resource, or the group (``"kind": "group"`` added), or None."""
        # The cache key holds a digest of the token, never the token itself.
        key = (hashlib.sha256((token or "").encode()).hexdigest(), resource_id)
        seen = self._known.get(key)
        if seen is not None and time.monotonic() - seen[0] < self._ttl:
            return seen[1]
        # The id is one path segment, whatever it contains.
        segment = quote(resource_id, safe="")
        doc = await self._get(
            f"/api/v1/resources/{segment}", token, "/api/v1/resources/{resource_id}"
        )
        if doc is None:
            group = await self._get(
                f"/api/v1/resource-groups/{segment}", token, "/api/v1/resource-groups/{group_id}"
            )
            doc = {**group, "is_group": True} if group is not None else None
        if doc is not None:
            if len(self._known) >= self._size:
                self._known.clear()
            self._known[key] = (time.monotonic(), doc)
        return doc

    async def venue(self, venue_id: str, token: str | None) -> dict[str, Any] | None:
        """The caller's tenant's venue (its resources and groups), or None."""
        return await self._get(
            f"/api/v1/venues/{quote(venue_id, safe='')}", token, "/api/v1/venues/{venue_id}"
        )

    async def slot(self, slot_id: str, token: str | None) -> dict[str, Any] | None:
        return await self._get(
            f"/api/v1/slots/{quote(slot_id, safe='')}", token, "/api/v1/slots/{slot_id}"
        )

    async def close(self) -> None:
        await self._client.aclose()


def inventory_problem(exc: InventoryUnavailable | InventoryRefusedCaller) -> Problem:
    """What the caller hears when inventory could not answer for them."""
    if isinstance(exc, InventoryRefusedCaller):
        return Problem(
            exc.status,
            "unauthorized" if exc.status == 401 else "forbidden",
            "Unauthorized" if exc.status == 401 else "Forbidden",
            "A valid bearer token of the resource's tenant is required.",
            headers={"WWW-Authenticate": "Bearer"} if exc.status == 401 else None,
        )
    return Problem(
        503,
        "dependency-unavailable",
        "Inventory unavailable",
        "Try again shortly.",
        headers={"Retry-After": "2"},
    )
