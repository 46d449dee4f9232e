"""Open-loop booking benchmark against a running platform (``make run``), or one it starts.

Arrivals follow a fixed schedule (``--rate`` per second for ``--duration`` seconds) and are sent
whether or not earlier requests have answered, so a slow platform shows up as latency and
backlog instead of a politely lower request rate. A confirmation is observed on
``booking.events`` (a Kafka consumer reading ``booking.confirmed``), not by polling.

Reports: confirmed bookings per second, saga latency (202 received -> booking.confirmed
observed) p50/p95/p99, HTTP accept latency, CPU seconds per booking for every process of the
platform (from /proc), and writes the lot as JSON under bench/reports/.

    make bench BENCH_ARGS="--rate 40 --duration 30"
    python -m bench --start            # start a throwaway platform first
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from contracts import cloudevents as ce
from contracts.topics import BOOKING_EVENTS
from devstack.client import booking_body, discover_token, discover_urls
from devstack.kafka import REPO_ROOT
from devstack.platform import SERVICES, Platform, PlatformConfig
from messaging import security

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime: fields 14-17 of stat (index 11-14 after the comm field)
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.append(int(entry.name))
    return out


def process_groups(state: dict[str, Any]) -> dict[str, list[int]]:
    groups = {name: [pid] for name, pid in state["pids"].items()}
    if state.get("kafka_pid"):
        groups["kafka"] = [state["kafka_pid"]]
    if state.get("postgres_pid"):
        pg = state["postgres_pid"]
        groups["postgres"] = [pg, *_children(pg)]
    return groups


def cpu_snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    snap = {}
    for name, pids in groups.items():
        if name == "postgres":  # backends come and go: re-read the children each time
            pids = [pids[0], *_children(pids[0])]
        snap[name] = sum(_cpu_seconds(p) for p in pids)
    return snap


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Run:
    accepted_at: dict[str, float] = field(default_factory=dict)
    accept_latency: list[float] = field(default_factory=list)
    outcome_at: dict[str, tuple[str, float]] = field(default_factory=dict)
    errors: int = 0


async def observe(bootstrap: str, run: Run, stop: asyncio.Event, ready: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        BOOKING_EVENTS.name,
        bootstrap_servers=bootstrap,
        auto_offset_reset="latest",
        enable_auto_commit=False,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        fetch_max_wait_ms=10,
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
                    headers = {k: v for k, v in record.headers}
                    ce_type = headers.get(ce.H_TYPE, b"").decode()
                    if ce_type.startswith(("booking.confirmed", "booking.rejected")):
                        booking_id = record.key.decode()
                        run.outcome_at.setdefault(booking_id, (ce_type.split(".")[1], now))
    finally:
        await consumer.stop()


async def load(
    urls: dict[str, str],
    bootstrap: str,
    rate: float,
    duration: float,
    resources: int,
    run: Run,
    token: str,
) -> float:
    async with httpx.AsyncClient(
        timeout=30,
        limits=httpx.Limits(max_connections=200),
        headers={"Authorization": f"Bearer {token}"},
    ) as http:
        resource_ids = []
        for i in range(resources):
            r = await http.post(
                f"{urls['inventory']}/api/v1/resources",
                json={
                    "name": f"bench-{i}",
                    "booking_mode": "nightly",
                    "capacity": 100_000,
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
            resource_ids.append(rid)

        stop, ready = asyncio.Event(), asyncio.Event()
        watcher = asyncio.create_task(observe(bootstrap, run, stop, ready))
        await ready.wait()
        rng = random.Random(7)
        base = date.today() + timedelta(days=30)

        async def one(n: int) -> None:
            body = booking_body(
                rng.choice(resource_ids),
                base + timedelta(days=rng.randrange(300)),
                nights=rng.randint(1, 3),
                n=n,
            )
            sent = time.perf_counter()
            try:
                r = await http.post(
                    f"{urls['booking']}/api/v1/bookings",
                    json=body,
                    headers={"Idempotency-Key": f"bench-{uuid.uuid4()}"},
                )
            except httpx.HTTPError:
                run.errors += 1
                return
            now = time.perf_counter()
            if r.status_code in (201, 202):
                run.accepted_at[r.json()["id"]] = now
                run.accept_latency.append(now - sent)
            else:
                run.errors += 1

        total = int(rate * duration)
        started = time.perf_counter()
        tasks = []
        for n in range(total):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        deadline = time.perf_counter() + 120
        while time.perf_counter() < deadline and any(
            b not in run.outcome_at for b in run.accepted_at
        ):
            await asyncio.sleep(0.1)
        finished = max([t for _, t in run.outcome_at.values()] or [time.perf_counter()])
        stop.set()
        await watcher
        return finished - started


def summarize(run: Run, elapsed: float, cpu: dict[str, float], args: argparse.Namespace) -> dict:
    confirmed = [
        b for b, (kind, _) in run.outcome_at.items() if kind == "confirmed" and b in run.accepted_at
    ]
    latencies = [run.outcome_at[b][1] - run.accepted_at[b] for b in confirmed]
    ms = lambda v: round(v * 1000, 1) if v is not None else None  # noqa: E731
    per_booking = {
        k: round(v / len(confirmed), 4) if confirmed else None for k, v in sorted(cpu.items())
    }
    return {
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count()},
        "load": {
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "offered": int(args.rate * args.duration),
        },
        "accepted": len(run.accepted_at),
        "errors": run.errors,
        "confirmed": len(confirmed),
        "not_finished": sum(1 for b in run.accepted_at if b not in run.outcome_at),
        "confirmed_per_s": round(len(confirmed) / elapsed, 2) if elapsed > 0 else None,
        "saga_latency_ms": {
            "p50": ms(percentile(latencies, 50)),
            "p95": ms(percentile(latencies, 95)),
            "p99": ms(percentile(latencies, 99)),
            "max": ms(max(latencies) if latencies else None),
            "mean": ms(statistics.fmean(latencies) if latencies else None),
        },
        "accept_latency_ms": {
            "p50": ms(percentile(run.accept_latency, 50)),
            "p99": ms(percentile(run.accept_latency, 99)),
        },
        "cpu_seconds_per_booking": per_booking,
        "cpu_seconds_per_booking_total": round(sum(cpu.values()) / len(confirmed), 4)
        if confirmed
        else None,
    }


async def main_async(
    args: argparse.Namespace, urls: dict[str, str], state: dict[str, Any], token: str
) -> dict:
    groups = process_groups(state)
    before = cpu_snapshot(groups)
    run = Run()
    elapsed = await load(urls, state["kafka"], args.rate, args.duration, args.resources, run, token)
    after = cpu_snapshot(groups)
    cpu = {k: after[k] - before.get(k, 0.0) for k in after}
    return summarize(run, elapsed, cpu, args)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--rate", type=float, default=20.0, help="arrivals per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of arrivals")
    parser.add_argument("--resources", type=int, default=20)
    parser.add_argument("--start", action="store_true", help="start a throwaway platform")
    parser.add_argument(
        "--availability-seconds",
        type=float,
        default=15.0,
        help="seconds per availability endpoint under concurrent clients (0 skips it)",
    )
    parser.add_argument(
        "--relay-rows",
        type=int,
        default=20_000,
        help="rows for the outbox relay throughput run (0 skips it)",
    )
    args = parser.parse_args()
    platform = None
    try:
        if args.start:
            workdir = Path(tempfile.mkdtemp(prefix="booking-bench-", dir="/var/tmp"))
            workdir.chmod(0o755)
            platform = Platform(PlatformConfig.ephemeral(workdir, pg_fsync=True))
            platform.start()
            urls = {s: platform.url(s) for s in SERVICES}
            state = json.loads((workdir / "state.json").read_text())
            token = platform.token()
        else:
            urls = discover_urls()
            state_file = REPO_ROOT / ".local" / "platform" / "state.json"
            if not state_file.exists():
                print(
                    "no running platform found (.local/platform/state.json): `make run` or --start"
                )
                return 2
            state = json.loads(state_file.read_text())
            token = discover_token()
            # The running platform's admin principal, as bpctl speaks to its broker.
            for name, value in state.get("kafka_env", {}).items():
                os.environ.setdefault(name, value)
        report = asyncio.run(main_async(args, urls, state, token))
        if args.availability_seconds:
            from bench import availability

            report["availability"] = asyncio.run(
                availability.run(urls, token, duration=args.availability_seconds)
            )
        if args.relay_rows and state.get("postgres_admin_url"):
            from bench import relay

            report["outbox_relay"] = asyncio.run(
                relay.run(state["postgres_admin_url"], state["kafka"], args.relay_rows)
            )
    finally:
        if platform is not None:
            platform.stop()
    out = REPO_ROOT / "bench" / "reports" / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
