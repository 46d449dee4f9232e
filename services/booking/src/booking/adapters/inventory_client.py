"""Asks inventory whether a resource exists, so a booking for an unknown resource is refused
with a 4xx before anything is written.

The caller's bearer token is forwarded: inventory answers for the caller's tenant only, so a
resource of another tenant is as unknown here as one that does not exist. Positive answers are
cached briefly per token (resources are not deleted; deactivation is enforced by inventory
inside the saga).
"""

from __future__ import annotations

import hashlib
import time
from urllib.parse import quote

import httpx


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
        self._known: dict[tuple[str, str], float] = {}
        self._ttl = cache_ttl_s
        self._size = cache_size

    async def resource_exists(self, resource_id: str, token: str | None) -> bool:
        # The cache key holds a digest of the token, never the token itself.
        key = (hashlib.sha256((token or "").encode()).hexdigest(), resource_id)
        seen = self._known.get(key)
        if seen is not None and time.monotonic() - seen < self._ttl:
            return True
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # A booking may name a resource or a resource group (inventory allocates a unit). The id
        # is one path segment, whatever it contains.
        segment = quote(resource_id, safe="")
        for path in (f"/api/v1/resources/{segment}", f"/api/v1/resource-groups/{segment}"):
            try:
                response = await self._client.get(path, headers=headers)
            except httpx.HTTPError as exc:
                raise InventoryUnavailable(str(exc)) from exc
            if response.status_code == 200:
                if len(self._known) >= self._size:
                    self._known.clear()
                self._known[key] = time.monotonic()
                return True
            if response.status_code in (401, 403):
                raise InventoryRefusedCaller(response.status_code)
            if response.status_code != 404:
                raise InventoryUnavailable(f"inventory answered {response.status_code}")
        return False

    async def close(self) -> None:
        await self._client.aclose()
