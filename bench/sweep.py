"""The stepped sweep: how fast the platform is on this machine.

1. **Idle**: the platform's CPU while nothing happens, as a share of the machine.
2. **Warm-up**: bookings at the first rate, not reported (pools, caches, JIT of nothing).
3. **Steps**: offered rates one after another (``rates``), each for ``step_seconds`` and then
   drained, so that every step starts empty. A step *holds* when its saga latency p99 (request
   sent to outcome read back from Kafka; a booking without an outcome counts as infinitely
   late) is at most ``p99_limit_ms``, its backlog stays flat while arrivals last, and at most 1 %
   of its requests were refused or failed. The sweep stops ``past_knee`` steps after the first
   step that does not hold, then ``refine`` more steps bisect the rates between the highest
   step that held below the knee and the knee (so a ceiling between 10 and 20 is not reported
   as 10).
4. **Overload**: three times the sustained ceiling for ``overload_seconds``: how much is still
   confirmed, and whether the excess is refused promptly (503 with ``Retry-After``).
5. **Invariants** once everything has drained: every accepted booking has exactly one outcome
   announced once, the booking database holds exactly the bookings accepted, and the
   platform's invariants (no night oversold or leaked, every confirmed booking paid and
   announced in order) hold for every booking and resource of the run.

The sustained ceiling is the highest offered rate whose step holds; its confirmed bookings per
second are what the report calls ``ceiling.confirmed_per_s``.
"""

from __future__ import annotations

import asyncio
import os
import platform as host
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.workload import (
    Arrivals,
    Catalogue,
    Outcomes,
    cpu_snapshot,
    create_catalogue,
    observe,
    percentile,
    rss_snapshot,
)

DEFAULT_RATES = (5, 10, 20, 30, 40, 50, 60, 80, 100, 125, 150, 200, 250, 300)


@dataclass
class SweepConfig:
    rates: tuple[float, ...] = DEFAULT_RATES
    step_seconds: float = 30.0
    warmup_seconds: float = 60.0  # the broker's JIT settles in about a minute
    idle_seconds: float = 20.0
    overload_seconds: float = 60.0
    p99_limit_ms: float = 500.0
    past_knee: int = 1
    refine: int = 2
    drain_timeout_s: float = 120.0
    settle_timeout_s: float = 600.0
    roomy_resources: int = 20
    scarce_resources: int = 2


def ms(seconds: float | None) -> float | None:
    """Milliseconds, one decimal; ``None`` for no value or a booking that never finished."""
    if seconds is None or seconds == float("inf"):
        return None
    return round(seconds * 1000, 1)


def slope(samples: list[tuple[float, int]]) -> float:
    """Least-squares growth per second of ``(time, value)`` samples (0 for fewer than two)."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    return sum((t - mt) * (v - mv) for t, v in samples) / var if var else 0.0


def judge(step: dict[str, Any], p99_limit_ms: float) -> list[str]:
    """Why a step does not hold (empty when it does)."""
    why = []
    p99 = step["saga_latency_ms"]["p99"]
    if p99 is None:
        why.append("p99 beyond the drain (bookings without an outcome)")
    elif p99 > p99_limit_ms:
        why.append(f"p99 {p99} ms > {p99_limit_ms:g} ms")
    rate = step["offered_per_s"]
    backlog = step["backlog"]
    if backlog["growth_per_s"] > max(0.5, 0.02 * rate) or backlog["at_end"] > max(
        5, rate * p99_limit_ms / 1000 * 2
    ):
        why.append(
            f"backlog grows ({backlog['growth_per_s']:+.1f}/s, {backlog['at_end']} at the end)"
        )
    failed = step["refused"] + step["errors"]
    if failed > 0.01 * step["offered"]:
        why.append(f"{failed} of {step['offered']} refused or failed")
    return why


def per_booking(cpu: dict[str, float], confirmed: int) -> dict[str, float | None]:
    """Milliseconds of CPU per confirmed booking, by component and in total."""
    if not confirmed:
        return {k: None for k in [*sorted(cpu), "total"]}
    out: dict[str, float | None] = {
        k: round(v * 1000 / confirmed, 2) for k, v in sorted(cpu.items())
    }
    out["total"] = round(sum(cpu.values()) * 1000 / confirmed, 2)
    return out


@dataclass
class Bench:
    """One sweep over a running platform: its URLs, broker, database URLs and processes."""

    urls: dict[str, str]
    bootstrap: str
    database_urls: dict[str, str]
    groups: dict[str, list[int]]
    token: str
    config: SweepConfig = field(default_factory=SweepConfig)
    say: Callable[[str], None] = print
    outcomes: Outcomes = field(default_factory=Outcomes)

    async def run(self) -> dict[str, Any]:
        cfg = self.config
        report: dict[str, Any] = {
            "kind": "sweep",
            "at": datetime.now(UTC).isoformat(),
            "machine": {
                "cpus": os.cpu_count(),
                "host": host.node(),
                "python": host.python_version(),
            },
            "config": asdict(cfg),
        }
        async with httpx.AsyncClient(
            timeout=60,
            limits=httpx.Limits(max_connections=400, max_keepalive_connections=100),
            headers={"Authorization": f"Bearer {self.token}"},
        ) as http:
            catalogue = await create_catalogue(
                http, self.urls, cfg.roomy_resources, cfg.scarce_resources
            )
            stop, ready = asyncio.Event(), asyncio.Event()
            watcher = asyncio.create_task(observe(self.bootstrap, self.outcomes, stop, ready))
            try:
                await asyncio.wait_for(ready.wait(), 60)
                arrivals = Arrivals(http, self.urls["booking"], catalogue, self.outcomes)
                if cfg.idle_seconds:
                    report["idle"] = await self.idle(cfg.idle_seconds)
                if cfg.warmup_seconds:
                    self.say(f"warm-up: {cfg.rates[0]:g}/s for {cfg.warmup_seconds:g} s")
                    await self.step(arrivals, cfg.rates[0], cfg.warmup_seconds, "warm-up")
                report["steps"] = steps = []
                for rate in self.rates_until_knee(steps):
                    steps.append(await self.step(arrivals, rate, cfg.step_seconds))
                for rate in self.rates_refining(steps):
                    steps.append(await self.step(arrivals, rate, cfg.step_seconds))
                steps.sort(key=lambda s: s["offered_per_s"])
                report["ceiling"] = ceiling(steps)
                if cfg.overload_seconds and report["ceiling"]:
                    report["overload"] = await self.overload(arrivals, report["ceiling"])
                await self.settle()
                self.say("checking invariants")
                report["invariants"] = await self.invariants(catalogue)
            finally:
                stop.set()
                await watcher
        return report

    def rates_until_knee(self, steps: list[dict[str, Any]]) -> Iterator[float]:
        failing = 0
        for rate in self.config.rates:
            yield rate
            if steps[-1]["why_not"]:
                failing += 1
                if failing >= self.config.past_knee:
                    return

    def rates_refining(self, steps: list[dict[str, Any]]) -> Iterator[float]:
        """Bisect between the highest rate that held below the first that failed (0 when none
        held) and that failure, ``refine`` times, each step narrowing by its own verdict."""
        failed = [s["offered_per_s"] for s in steps if s["why_not"]]
        if not failed:
            return
        high = min(failed)
        held = [s["offered_per_s"] for s in steps if not s["why_not"] and s["offered_per_s"] < high]
        low = max(held, default=0.0)
        for _ in range(self.config.refine):
            rate = round((low + high) / 2 * 2) / 2  # to half a booking per second
            if not low < rate < high:
                return
            yield rate
            if steps[-1]["why_not"]:
                high = rate
            else:
                low = rate

    async def idle(self, seconds: float) -> dict[str, Any]:
        self.say(f"idle: {seconds:g} s with nothing to do")
        await asyncio.sleep(min(5.0, seconds))  # the catalogue's own work settles
        before, t0 = cpu_snapshot(self.groups), time.perf_counter()
        await asyncio.sleep(seconds)
        after, wall = cpu_snapshot(self.groups), time.perf_counter() - t0
        capacity = wall * (os.cpu_count() or 1)
        used = {k: after[k] - before.get(k, 0.0) for k in after}
        return {
            "seconds": round(wall, 1),
            "machine_percent": round(100 * sum(used.values()) / capacity, 2),
            "percent_by_component": {
                k: round(100 * v / capacity, 2) for k, v in sorted(used.items())
            },
            "rss_mb": {
                k: round(v / 2**20, 1) for k, v in sorted(rss_snapshot(self.groups).items())
            },
        }

    async def step(
        self, arrivals: Arrivals, rate: float, seconds: float, label: str | None = None
    ) -> dict[str, Any]:
        o = self.outcomes
        t0 = time.perf_counter()
        cpu0 = cpu_snapshot(self.groups)
        mine = lambda: [b for b, sent in o.accepted_at.items() if sent >= t0]  # noqa: E731
        samples: list[tuple[float, int]] = []
        rss_peak: dict[str, int] = {}

        async def watch() -> None:
            while True:
                await asyncio.sleep(1.0)
                now = time.perf_counter()
                ids = mine()
                backlog = sum(1 for b in ids if b not in o.outcome_at)
                samples.append((now - t0, backlog))
                for k, v in rss_snapshot(self.groups).items():
                    rss_peak[k] = max(rss_peak.get(k, 0), v)
                done = sum(1 for b in ids if b in o.outcome_at)
                self.say(
                    f"  [{label or f'{rate:g}/s'}] {now - t0:5.1f}s  sent {arrivals.sent}"
                    f"  accepted {len(ids)}  done {done}  backlog {backlog}"
                    f"  refused {sum(1 for s, _ in o.refused if s >= t0)}"
                )

        progress = asyncio.create_task(watch())
        try:
            in_flight = await arrivals.offer(rate, seconds)
            arrivals_end = time.perf_counter()
            await asyncio.gather(*in_flight)
            backlog_at_end = sum(1 for b in mine() if b not in o.outcome_at)
            drain_until = time.perf_counter() + self.config.drain_timeout_s
            while time.perf_counter() < drain_until and any(b not in o.outcome_at for b in mine()):
                await asyncio.sleep(0.1)
            drained = time.perf_counter()
        finally:
            progress.cancel()
        cpu = {k: v - cpu0.get(k, 0.0) for k, v in cpu_snapshot(self.groups).items()}
        ids = mine()
        outcome = {b: o.outcome_at.get(b) for b in ids}
        confirmed = [b for b, x in outcome.items() if x and x[0] == "confirmed"]
        latencies = [(x[1] - o.accepted_at[b]) if x else float("inf") for b, x in outcome.items()]
        window = arrivals_end - t0
        confirmed_in_window = sum(1 for b in confirmed if outcome[b][1] <= arrivals_end)
        accept = [s for sent, s in o.accept_latency if sent >= t0]
        refused = [s for sent, s in o.refused if sent >= t0]
        offered = max(1, round(rate * seconds))
        second_half = [(t, v) for t, v in samples if t >= window / 2 and t <= window]
        result: dict[str, Any] = {
            "offered_per_s": rate,
            "seconds": round(window, 1),
            "offered": offered,
            "accepted": len(ids),
            "confirmed": len(confirmed),
            "rejected": sum(1 for x in outcome.values() if x and x[0] == "rejected"),
            "unfinished": sum(1 for x in outcome.values() if x is None),
            "refused": len(refused),
            "errors": sum(1 for sent, _ in o.errors if sent >= t0),
            "confirmed_per_s": round(confirmed_in_window / window, 2),
            "saga_latency_ms": {
                q: ms(percentile(latencies, n)) for q, n in (("p50", 50), ("p95", 95), ("p99", 99))
            },
            "accept_latency_ms": {
                "p50": ms(percentile(accept, 50)),
                "p99": ms(percentile(accept, 99)),
            },
            "refusal_latency_ms": {"p99": ms(percentile(refused, 99))},
            "backlog": {
                "at_end": backlog_at_end,
                "growth_per_s": round(slope(second_half), 2),
                "samples": [v for _, v in samples],
            },
            "drain_seconds": round(drained - arrivals_end, 1),
            "cpu_ms_per_booking": per_booking(cpu, len(confirmed)),
            "cpu_percent_of_machine": round(
                100 * sum(cpu.values()) / ((drained - t0) * (os.cpu_count() or 1)), 1
            ),
            "rss_mb_peak": {k: round(v / 2**20, 1) for k, v in sorted(rss_peak.items())},
        }
        result["why_not"] = judge(result, self.config.p99_limit_ms)
        verdict = "holds" if not result["why_not"] else "; ".join(result["why_not"])
        lat = result["saga_latency_ms"]
        self.say(
            f"{label or f'step {rate:g}/s'}: {result['confirmed_per_s']} confirmed/s,"
            f" p50 {lat['p50']} ms, p99 {lat['p99']} ms,"
            f" {result['cpu_ms_per_booking']['total']} ms CPU/booking: {verdict}"
        )
        return result

    async def settle(self) -> None:
        """Wait (within ``settle_timeout_s``) until every accepted booking has an outcome: the
        invariants are read of a platform at rest."""
        o = self.outcomes
        until = time.perf_counter() + self.config.settle_timeout_s
        last = 0.0
        while (left := o.outstanding()) and time.perf_counter() < until:
            if time.perf_counter() - last > 5:
                self.say(f"settling: {left} bookings without an outcome yet")
                last = time.perf_counter()
            await asyncio.sleep(0.2)

    async def overload(self, arrivals: Arrivals, top: dict[str, Any]) -> dict[str, Any]:
        rate = round(3 * top["confirmed_per_s"], 1)
        self.say(f"overload: {rate:g}/s (3x the ceiling) for {self.config.overload_seconds:g} s")
        step = await self.step(arrivals, rate, self.config.overload_seconds, "overload")
        step["share_of_ceiling"] = (
            round(step["confirmed_per_s"] / top["confirmed_per_s"], 2)
            if top["confirmed_per_s"]
            else None
        )
        step["refused_without_retry_after"] = self.outcomes.refused_without_retry_after
        return step

    async def invariants(self, catalogue: Catalogue) -> dict[str, Any]:
        # Imported here: the suite's checks read the services' databases directly.
        from tests.support.invariants import all_hold

        o = self.outcomes
        ids = list(o.accepted_at)
        duplicated = sorted(k for k, n in o.announced.items() if n > 1)
        both = [
            b
            for b in ids
            if o.announced[f"{b}/booking.confirmed.v1"] and o.announced[f"{b}/booking.rejected.v1"]
        ]
        stored = await asyncio.to_thread(
            _stored_bookings, self.database_urls["booking"], catalogue.resource_ids
        )
        failed = await asyncio.to_thread(all_hold, self.database_urls, ids, catalogue.resource_ids)
        counts = {
            "accepted": len(ids),
            "without_outcome": sum(1 for b in ids if b not in o.outcome_at),
            "announced_twice": len(duplicated),
            "confirmed_and_rejected": len(both),
            "stored": len(stored),
            "stored_not_accepted": len(stored - set(ids)),
            "accepted_not_stored": len(set(ids) - stored),
        }
        problems = [
            f"{name}: {n}" for name, n in counts.items() if name not in ("accepted", "stored") and n
        ]
        return {"ok": not (problems or failed), "counts": counts, "failed": [*problems, *failed]}


def _stored_bookings(url: str, resource_ids: list[str]) -> set[str]:
    from tests.support.db import fetch

    rows = fetch(
        url, "SELECT id::text FROM bookings WHERE resource_id = ANY($1::text[])", resource_ids
    )
    return {r["id"] for r in rows}


def ceiling(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The highest offered rate whose step held, with what it confirmed; ``None`` if none did."""
    held = [s for s in steps if not s["why_not"]]
    if not held:
        return None
    top = max(held, key=lambda s: s["offered_per_s"])
    return {
        "offered_per_s": top["offered_per_s"],
        "confirmed_per_s": top["confirmed_per_s"],
        "saga_latency_ms": top["saga_latency_ms"],
        "cpu_ms_per_booking": top["cpu_ms_per_booking"]["total"],
    }
