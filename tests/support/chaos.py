"""``make chaos``: bookings at a steady rate while a nemesis kills and pauses the platform's
processes and restarts Kafka and Postgres, then a history checker reads every topic, outbox and
inbox and reports what was lost, duplicated, out of order or stuck.

    python -m tests.support.chaos                       # 10,000 bookings at 10/s, faults every 5 s
    python -m tests.support.chaos --bookings 300 --rate 8 --every 6

The platform is its own (free ports, a throwaway directory, Postgres with fsync on). Faults,
chosen at random with a seed (``--seed``): SIGKILL a web or worker (restarted 1-3 s later),
SIGSTOP a worker for 4-12 s (past its session timeout, sometimes), and once each, Kafka SIGKILLed
and restarted and Postgres stopped with ``pg_ctl stop -m immediate`` and restarted. The
bookings' clients retry a 503 or a refused connection with the same Idempotency-Key, as a
gateway does. The JSON report goes to bench/reports/chaos-<time>.json; the exit code is 1 when
anything was lost, duplicated, out of order or stuck, or an invariant failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import tempfile
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from devstack.client import TERMINAL, PlatformClient
from devstack.kafka import REPO_ROOT
from devstack.platform import SERVICES, Platform, PlatformConfig
from tests.support import history, invariants
from tests.support.db import fetch
from tests.support.load import Flow

console = Console()


@dataclass
class Nemesis:
    platform: Platform
    rng: random.Random
    every_s: float
    faults: Counter = field(default_factory=Counter)
    log: list[dict[str, Any]] = field(default_factory=list)

    def _note(self, kind: str, target: str) -> None:
        self.faults[kind] += 1
        self.log.append({"at": datetime.now(UTC).isoformat(), "fault": kind, "target": target})

    async def run(self, until: asyncio.Event, total_s: float) -> None:
        """Small faults every ``every_s`` (jittered) until the load ends; the two
        infrastructure faults at a third and two thirds of it, whatever else is going on."""

        async def small() -> None:
            while not until.is_set():
                await asyncio.sleep(self.every_s * self.rng.uniform(0.6, 1.4))
                if until.is_set():
                    break
                if self.rng.random() < 0.6:
                    await self._kill()
                else:
                    await self._pause()

        async def big() -> None:
            started = time.monotonic()
            for share, which in ((1 / 3, "kafka"), (2 / 3, "postgres")):
                await asyncio.sleep(max(0.0, started + share * total_s - time.monotonic()))
                await self._infrastructure(which)

        await asyncio.gather(small(), big())

    async def _kill(self) -> None:
        service = self.rng.choice(list(SERVICES))
        role = self.rng.choice(["web", "worker"])
        proc = self.platform.procs[(service, role)]
        proc.kill()
        self._note("sigkill", f"{service}-{role}")
        await asyncio.sleep(self.rng.uniform(1, 3))
        self.platform.start_service(service, role)

    async def _pause(self) -> None:
        service = self.rng.choice(list(SERVICES))
        proc = self.platform.procs[(service, "worker")]
        if not proc.alive():
            return
        proc.popen.send_signal(signal.SIGSTOP)
        self._note("sigstop", f"{service}-worker")
        await asyncio.sleep(self.rng.uniform(4, 12))
        proc.popen.send_signal(signal.SIGCONT)

    async def _infrastructure(self, which: str) -> None:
        if which == "kafka" and self.platform.kafka is not None:
            broker = self.platform.kafka
            await asyncio.to_thread(broker.kill)
            self._note("kafka_restart", "kafka")
            await asyncio.sleep(self.rng.uniform(3, 8))
            await asyncio.to_thread(broker.start)
        elif which == "postgres" and self.platform.postgres is not None:
            postgres = self.platform.postgres
            await asyncio.to_thread(postgres.crash)
            self._note("postgres_restart", "postgres")
            await asyncio.sleep(self.rng.uniform(3, 8))
            await asyncio.to_thread(postgres.start)

    def revive(self) -> None:
        """Everything running again for the checks (a kill may have come last)."""
        for (service, role), proc in list(self.platform.procs.items()):
            if proc.alive():
                proc.popen.send_signal(signal.SIGCONT)
            else:
                self.platform.start_service(service, role)
        self.platform.wait_ready(timeout=180)


async def settle(platform: Platform, token: str, ids: list[str], timeout: float) -> dict[str, str]:
    """Every booking's status once none changes any more (or the time is up)."""
    client = PlatformClient({s: platform.url(s) for s in SERVICES}, token=token, timeout=30.0)
    final: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            rows = fetch(
                platform.database_urls["booking"],
                "SELECT id::text, status FROM bookings WHERE id = ANY($1::uuid[])",
                ids,
            )
            final = {r["id"]: r["status"] for r in rows}
            in_flight = fetch(
                platform.database_urls["booking"],
                "SELECT count(*) AS n FROM sagas WHERE booking_id = ANY($1::uuid[]) AND status "
                "IN ('running', 'compensating') AND COALESCE((state->>'waiting')::boolean, false) "
                "= false",
                ids,
            )[0]["n"]
            if in_flight == 0 and all(s in TERMINAL for s in final.values()):
                break
            await asyncio.sleep(2.0)
    finally:
        client.close()
    return final


def _workdir() -> Path:
    workdir = Path(tempfile.mkdtemp(prefix="booking-chaos-", dir="/var/tmp"))
    workdir.chmod(0o755)  # the embedded Postgres runs as an unprivileged user
    return workdir


async def chaos(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    workdir = _workdir()
    config = PlatformConfig.ephemeral(
        workdir,
        pg_fsync=True,
        service_env={
            "BOOKING_STEP_TIMEOUT_S": "10",
            "BOOKING_STEP_DEADLINE_S": "300",
            "NOTIFIER_DISPATCH_INTERVAL_S": "0.5",
        },
    )
    platform = Platform(config)
    started = time.monotonic()
    report: dict[str, Any] = {"config": vars(args), "started_at": datetime.now(UTC).isoformat()}
    try:
        await asyncio.to_thread(platform.start)
        token = platform.token(ttl_s=24 * 3600)
        client = PlatformClient({s: platform.url(s) for s in SERVICES}, token=token, timeout=30.0)
        nights_per_resource = 300
        resources = []
        for _ in range(max(1, args.bookings // nights_per_resource + 1)):
            r = client.create_resource(f"Chaos {uuid.uuid4().hex[:6]}", capacity=1)
            client.create_rate_plan(r["id"], "75.00", "EUR")
            resources.append(r["id"])
        client.close()
        flow = Flow(platform, token, resources, date.today() + timedelta(days=30))
        nemesis = Nemesis(platform, rng, args.every)
        done = asyncio.Event()
        duration = args.bookings / args.rate
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("bookings accepted", total=args.bookings)

            async def track() -> None:
                while not done.is_set():
                    progress.update(
                        task,
                        completed=len(flow.ids),
                        description=f"bookings accepted (faults {sum(nemesis.faults.values())})",
                    )
                    await asyncio.sleep(1.0)

            async def load() -> None:
                try:
                    # Under faults the platform may fall behind the offered rate; admission
                    # control then refuses new bookings (503) until the backlog drains, and
                    # the gateway keeps offering each one, for up to half an hour.
                    await flow.run(
                        args.bookings, rate_per_s=args.rate, concurrency=16, patience_s=1800.0
                    )
                finally:
                    done.set()

            await asyncio.gather(load(), nemesis.run(done, duration), track())
            progress.update(task, completed=len(flow.ids))
        console.print("load done; reviving every process and letting the sagas finish")
        nemesis.revive()
        final = await settle(platform, token, flow.ids, timeout=args.settle)
        statuses = Counter(final.values())
        stuck = sum(n for s, n in statuses.items() if s not in TERMINAL)
        console.print("reading every topic, outbox and inbox")
        found = await history.check(platform)
        broken = invariants.all_hold(platform.database_urls, flow.ids, resources)
        report |= {
            "bookings": len(flow.ids),
            "statuses": dict(statuses),
            "stuck": stuck,
            "faults": dict(nemesis.faults),
            "fault_log": nemesis.log,
            "refused_and_retried": dict(flow.refused),
            "history": found.summary(),
            "examples": {
                "lost": found.lost[:10],
                "unapplied": found.unapplied[:10],
                "out_of_order": [list(k) for k in found.out_of_order[:10]],
                "duplicated": found.duplicated[:10],
            },
            "invariants_failed": broken,
            "seconds": round(time.monotonic() - started, 1),
        }
        report["ok"] = (
            stuck == 0
            and not broken
            and not found.lost
            and not found.unapplied
            and not found.out_of_order
            and not found.duplicated
        )
    except Exception as exc:
        report |= {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "trace": traceback.format_exc(),
        }
    finally:
        platform.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=5.0, help="bookings per second")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between faults")
    parser.add_argument("--settle", type=float, default=600.0, help="seconds for sagas to end")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the platform's directory")
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args(argv)
    report = asyncio.run(chaos(args))
    target = args.report or (
        REPO_ROOT / "bench" / "reports" / f"chaos-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2, default=str))
    summary = {
        k: report.get(k)
        for k in (
            "ok",
            "bookings",
            "statuses",
            "stuck",
            "faults",
            "history",
            "invariants_failed",
            "seconds",
            "error",
        )
    }
    console.print_json(json.dumps(summary, default=str))
    console.print(f"report: {target}")
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
