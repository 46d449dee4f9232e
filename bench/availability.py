"""Availability read paths under concurrent load: a venue search over 200 resources and the
monthly calendar of a resource. Closed loop: ``clients`` concurrent clients, each sending its
next request when the previous answered, for ``duration`` seconds per endpoint.

Calendars measured: a nightly resource's month, and a timeslot resource's month with 30 days of
16 slots (09:00-17:00 in 30 minutes), some seats held.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import date, timedelta
from typing import Any

import httpx


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000, 1)


async def _seed(http: httpx.AsyncClient, inv: str, resources: int) -> tuple[str, list[str]]:
    venue = f"bench-venue-{uuid.uuid4().hex[:6]}"
    ids: list[str] = []
    for i in range(resources):
        r = await http.post(
            f"{inv}/api/v1/resources",
            json={
                "name": f"bench room {i:03d}",
                "capacity": 3,
                "timezone": "Europe/Lisbon",
                "venue_id": venue,
                "rules": {"min_stay_nights": 1 + i % 3},
            },
        )
        r.raise_for_status()
        ids.append(r.json()["id"])
    # Some of the month already taken: one or two holds on a third of the resources.
    base = date.today() + timedelta(days=40)
    rng = random.Random(3)
    for rid in ids[: resources // 3]:
        for _ in range(rng.randint(1, 2)):
            start = base + timedelta(days=rng.randrange(25))
            await http.post(
                f"{inv}/api/v1/holds",
                json={
                    "resource_id": rid,
                    "check_in": start.isoformat(),
                    "check_out": (start + timedelta(days=3)).isoformat(),
                    "party": {"adults": 2},
                    "holder": "bench",
                    "ttl_seconds": 3600,
                },
            )
    return venue, ids


async def _seed_slots(http: httpx.AsyncClient, inv: str) -> tuple[str, str]:
    first = (date.today() + timedelta(days=40)).replace(day=1)
    r = await http.post(
        f"{inv}/api/v1/resources",
        json={
            "name": "bench tour",
            "booking_mode": "timeslot",
            "capacity": 10,
            "timezone": "Europe/Lisbon",
        },
    )
    r.raise_for_status()
    rid = r.json()["id"]
    (
        await http.post(
            f"{inv}/api/v1/resources/{rid}/schedules",
            json={
                "recurrence": "daily",
                "valid_from": first.isoformat(),
                "work_start": "09:00",
                "work_end": "17:00",
                "slot_minutes": 30,
            },
        )
    ).raise_for_status()
    (
        await http.post(
            f"{inv}/api/v1/resources/{rid}/slots/generate",
            json={"start": first.isoformat(), "end": (first + timedelta(days=30)).isoformat()},
        )
    ).raise_for_status()
    slots = (
        await http.get(
            f"{inv}/api/v1/resources/{rid}/slots",
            params={"start": first.isoformat(), "end": (first + timedelta(days=30)).isoformat()},
        )
    ).json()
    assert len(slots) == 30 * 16, len(slots)
    for slot in slots[::7]:
        await http.post(
            f"{inv}/api/v1/slots/{slot['id']}/holds",
            json={"party": {"adults": 3}, "holder": "bench", "ttl_seconds": 3600},
        )
    return rid, first.strftime("%Y-%m")


async def _closed_loop(make_request, clients: int, duration: float) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration

    async def client(n: int) -> None:
        nonlocal errors
        rng = random.Random(n)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await make_request(rng)
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": _pct(latencies, 50),
        "p99_ms": _pct(latencies, 99),
    }


async def run(
    urls: dict[str, str],
    token: str,
    resources: int = 200,
    clients: int = 16,
    duration: float = 15.0,
) -> dict[str, Any]:
    inv = urls["inventory"]
    async with httpx.AsyncClient(
        timeout=30,
        limits=httpx.Limits(max_connections=clients + 4),
        headers={"Authorization": f"Bearer {token}"},
    ) as http:
        venue, ids = await _seed(http, inv, resources)
        base = date.today() + timedelta(days=40)

        def search(rng: random.Random):  # type: ignore[no-untyped-def]
            start = base + timedelta(days=rng.randrange(25))
            return http.post(
                f"{inv}/api/v1/availability/search",
                json={
                    "venue_id": venue,
                    "check_in": start.isoformat(),
                    "check_out": (start + timedelta(days=rng.randint(1, 5))).isoformat(),
                    "party": {"adults": 2},
                },
            )

        month = base.strftime("%Y-%m")

        def calendar(rng: random.Random):  # type: ignore[no-untyped-def]
            return http.get(
                f"{inv}/api/v1/resources/{rng.choice(ids)}/calendar", params={"month": month}
            )

        tour, tour_month = await _seed_slots(http, inv)

        def slot_calendar(rng: random.Random):  # type: ignore[no-untyped-def]
            return http.get(f"{inv}/api/v1/resources/{tour}/calendar", params={"month": tour_month})

        return {
            "resources_in_venue": resources,
            "clients": clients,
            "search_200_resources": await _closed_loop(search, clients, duration),
            "calendar_month_nightly": await _closed_loop(calendar, clients, duration),
            "calendar_month_30x16_slots": await _closed_loop(slot_calendar, clients, duration),
        }
