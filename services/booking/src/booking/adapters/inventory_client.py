"""Asks inventory whether a resource exists, so a booking for an unknown resource is refused
with a 4xx before anything is written. Positive answers are cached briefly (resources are not
deleted; deactivation is enforced by inventory inside the saga)."""

from __future__ import annotations

import time

import httpx


class InventoryUnavailable(Exception):
    pass


class InventoryClient:
    def __init__(self, base_url: str, cache_ttl_s: float = 60.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(3.0))
        self._known: dict[str, float] = {}
        self._ttl = cache_ttl_s

    async def resource_exists(self, resource_id: str) -> bool:
        seen = self._known.get(resource_id)
        if seen is not None and time.monotonic() - seen < self._ttl:
            return True
        # A booking may name a resource or a resource group (inventory allocates a unit).
        for path in (f"/api/v1/resources/{resource_id}", f"/api/v1/resource-groups/{resource_id}"):
            try:
                response = await self._client.get(path)
            except httpx.HTTPError as exc:
                raise InventoryUnavailable(str(exc)) from exc
            if response.status_code == 200:
                self._known[resource_id] = time.monotonic()
                return True
            if response.status_code != 404:
                raise InventoryUnavailable(f"inventory answered {response.status_code}")
        return False

    async def close(self) -> None:
        await self._client.aclose()
