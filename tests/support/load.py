"""Bookings in bulk for the fault tests: many guests at once, and what became of them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from devstack.client import TERMINAL, booking_body
from devstack.platform import Platform


@dataclass
class Flow:
    """Bookings sent at a steady rate by concurrent clients; every one is kept track of, and a
    request the platform refused (503 while its database was away) is sent again with its
    Idempotency-Key, as a gateway would."""

    platform: Platform
    token: str
    resource_ids: Sequence[str]
    first_night: date
    ids: list[str] = field(default_factory=list)
    refused: Counter = field(default_factory=Counter)

    async def run(
        self, count: int, rate_per_s: float, concurrency: int = 8, patience_s: float = 300.0
    ) -> list[str]:
        """``patience_s``: how long one booking is offered again while the platform refuses it
        (503 while its database is away, or while admission control holds back a backlog)."""
        url = f"{self.platform.url('booking')}/api/v1/bookings"
        gate = asyncio.Semaphore(concurrency)
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(timeout=30.0, headers=headers) as http:

            async def one(n: int) -> None:
                resource = self.resource_ids[n % len(self.resource_ids)]
                night = self.first_night + timedelta(days=n // len(self.resource_ids))
                body = booking_body(resource, night, nights=1, n=n)
                key = str(uuid.uuid4())
                deadline = time.monotonic() + patience_s
                async with gate:
                    while True:
                        try:
                            r = await http.post(url, json=body, headers={"Idempotency-Key": key})
                        except httpx.TransportError as exc:
                            self.refused[type(exc).__name__] += 1
                        else:
                            if r.status_code in (201, 202):
                                self.ids.append(r.json()["id"])
                                return
                            if r.status_code not in (409, 503):
                                raise AssertionError(f"{r.status_code}: {r.text}")
                            self.refused[r.status_code] += 1
                        if time.monotonic() > deadline:
                            raise AssertionError(f"booking {n} never accepted")
                        await asyncio.sleep(1.0)

            tasks = []
            for n in range(count):
                tasks.append(asyncio.create_task(one(n)))
                await asyncio.sleep(1.0 / rate_per_s)
            await asyncio.gather(*tasks)
        return self.ids


async def terminal(
    platform: Platform, token: str, ids: Sequence[str], timeout: float = 300.0
) -> dict[str, dict[str, Any]]:
    """Every booking's final state; fails when some do not end in time."""
    url = f"{platform.url('booking')}/api/v1/bookings"
    final: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(
        timeout=30.0, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        while time.monotonic() < deadline:
            for booking_id in [b for b in ids if b not in final]:
                try:
                    r = await http.get(f"{url}/{booking_id}")
                except httpx.TransportError:
                    continue
                if r.status_code == 200 and r.json()["status"] in TERMINAL:
                    final[booking_id] = r.json()
            if len(final) == len(ids):
                return final
            await asyncio.sleep(1.0)
    raise AssertionError(f"{len(ids) - len(final)} bookings never ended")
