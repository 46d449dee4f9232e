"""What every booking benchmark shares: the platform's processes and what they use, the
bookings' outcomes read from ``booking.events``, and open-loop arrivals at a fixed rate.

Arrivals follow a fixed schedule and are sent whether or not earlier requests have answered,
so a slow platform shows up as latency and backlog instead of a politely lower request rate.
A booking's outcome is observed on ``booking.events`` (``booking.confirmed`` or
``booking.rejected`` read back by a Kafka consumer), never by polling the API.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from contracts import cloudevents as ce
from contracts.topics import BOOKING_EVENTS
from devstack.client import booking_body
from messaging import security

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    # utime, stime, cutime, cstime: fields 14-17 of stat (index 11-14 after the comm field)
    return sum(int(x) for x in fields[11:15]) / CLK_TCK if fields else 0.0


def _rss_bytes(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[21]) * PAGE if fields else 0  # rss, field 24 of stat


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def process_groups(state: dict[str, Any]) -> dict[str, list[int]]:
    """The platform's processes by component, from its ``state.json``."""
    groups = {name: [pid] for name, pid in state["pids"].items()}
    for name, pids in state.get("replica_pids", {}).items():  # more replicas of a process
        groups.setdefault(name, []).extend(pids)
    if state.get("kafka_pid"):
        groups["kafka"] = [state["kafka_pid"]]
    if state.get("postgres_pid"):
        groups["postgres"] = [state["postgres_pid"]]
    return groups


def _pids(name: str, pids: list[int]) -> list[int]:
    # Postgres backends come and go: its children are read again each time.
    return [pids[0], *_children(pids[0])] if name == "postgres" else pids


def cpu_snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each component (a Postgres backend that has exited is
    counted in the postmaster's cutime/cstime once it is reaped)."""
    return {name: sum(_cpu_seconds(p) for p in _pids(name, pids)) for name, pids in groups.items()}


def rss_snapshot(groups: dict[str, list[int]]) -> dict[str, int]:
    """Resident memory of each component now, in bytes."""
    return {name: sum(_rss_bytes(p) for p in _pids(name, pids)) for name, pids in groups.items()}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Outcomes:
    """What the benchmark has seen: when each accepted booking was requested, when its outcome
    was read back (saga latency is the time between: request sent to outcome observed), and how
    often each outcome was announced (twice would be a duplicate)."""

    accepted_at: dict[str, float] = field(default_factory=dict)  # id -> when its POST was sent
    accept_latency: list[tuple[float, float]] = field(default_factory=list)  # (sent, seconds)
    outcome_at: dict[str, tuple[str, float]] = field(default_factory=dict)
    announced: Counter[str] = field(default_factory=Counter)
    refused: list[tuple[float, float]] = field(default_factory=list)  # 503s: (sent, seconds)
    refused_without_retry_after: int = 0
    errors: list[tuple[float, str]] = field(default_factory=list)  # other answers and failures

    def outstanding(self) -> int:
        return sum(1 for b in self.accepted_at if b not in self.outcome_at)


async def observe(
    bootstrap: str, outcomes: Outcomes, stop: asyncio.Event, ready: asyncio.Event
) -> None:
    """Read ``booking.events`` from its end until ``stop``, recording each outcome."""
    consumer = AIOKafkaConsumer(
        BOOKING_EVENTS.name,
        bootstrap_servers=bootstrap,
        auto_offset_reset="latest",
        enable_auto_commit=False,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        fetch_max_wait_ms=500,  # answered as soon as an event arrives; idle, it polls little
        **security.client_kwargs(),
    )
    await consumer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        for tp in consumer.assignment():
            await consumer.position(tp)
        ready.set()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    ce_type = dict(record.headers).get(ce.H_TYPE, b"").decode()
                    if ce_type.startswith(("booking.confirmed", "booking.rejected")):
                        booking_id = record.key.decode()
                        outcomes.announced[f"{booking_id}/{ce_type}"] += 1
                        outcomes.outcome_at.setdefault(booking_id, (ce_type.split(".")[1], now))
    finally:
        await consumer.stop()


@dataclass
class Catalogue:
    """The resources bookings go to: roomy ones (capacity no run exhausts) and a few scarce
    ones (capacity 2 over a short season) where bookings race and some are refused, so that
    "no night oversold" is tested by the run instead of being true by construction."""

    roomy: list[str]
    scarce: list[str]
    season_start: date
    scarce_share: float = 0.05

    @property
    def resource_ids(self) -> list[str]:
        return [*self.roomy, *self.scarce]


async def create_catalogue(
    http: httpx.AsyncClient, urls: dict[str, str], roomy: int, scarce: int
) -> Catalogue:
    tag = uuid.uuid4().hex[:6]

    async def resource(name: str, capacity: int) -> str:
        r = await http.post(
            f"{urls['inventory']}/api/v1/resources",
            json={
                "name": name,
                "booking_mode": "nightly",
                "capacity": capacity,
                "timezone": "Europe/Lisbon",
            },
        )
        r.raise_for_status()
        rid = r.json()["id"]
        (
            await http.post(
                f"{urls['pricing']}/api/v1/rate-plans",
                json={"resource_id": rid, "currency": "EUR", "base_price": "99.00"},
            )
        ).raise_for_status()
        return rid

    return Catalogue(
        roomy=[await resource(f"bench-{tag}-{i}", 100_000) for i in range(roomy)],
        scarce=[await resource(f"bench-{tag}-scarce-{i}", 2) for i in range(scarce)],
        season_start=date.today() + timedelta(days=30),
    )


class Arrivals:
    """Sends booking requests on a fixed schedule (open loop) and records their answers."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        booking_url: str,
        catalogue: Catalogue,
        outcomes: Outcomes,
        seed: int = 7,
    ) -> None:
        self.http = http
        self.url = f"{booking_url}/api/v1/bookings"
        self.catalogue = catalogue
        self.outcomes = outcomes
        self.rng = random.Random(seed)
        self.sent = 0

    def _body(self) -> dict[str, Any]:
        c, rng = self.catalogue, self.rng
        if c.scarce and rng.random() < c.scarce_share:
            resource, check_in = rng.choice(c.scarce), c.season_start + timedelta(rng.randrange(5))
        else:
            resource, check_in = rng.choice(c.roomy), c.season_start + timedelta(rng.randrange(300))
        return booking_body(resource, check_in, nights=rng.randint(1, 3), n=self.sent)

    async def _one(self, body: dict[str, Any]) -> None:
        sent = time.perf_counter()
        try:
            r = await self.http.post(
                self.url, json=body, headers={"Idempotency-Key": f"bench-{uuid.uuid4()}"}
            )
        except httpx.HTTPError as exc:
            self.outcomes.errors.append((sent, type(exc).__name__))
            return
        now = time.perf_counter()
        if r.status_code in (201, 202):
            self.outcomes.accepted_at[r.json()["id"]] = sent
            self.outcomes.accept_latency.append((sent, now - sent))
        elif r.status_code == 503:
            self.outcomes.refused.append((sent, now - sent))
            if "retry-after" not in r.headers:
                self.outcomes.refused_without_retry_after += 1
        else:
            self.outcomes.errors.append((sent, str(r.status_code)))

    async def offer(self, rate: float, seconds: float) -> list[asyncio.Task[None]]:
        """Send ``rate`` requests a second for ``seconds``; the requests still in flight."""
        tasks = []
        started = time.perf_counter()
        for n in range(max(1, round(rate * seconds))):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self._one(self._body())))
            self.sent += 1
        return tasks
