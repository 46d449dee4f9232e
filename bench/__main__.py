"""How fast the platform is here: ``python -m bench`` (``make bench``).

    python -m bench --start                 # the sweep, on a throwaway platform it starts
    python -m bench                         # the sweep, against a running platform (make run)
    python -m bench run --rate 20 --duration 60 --start   # one offered rate, no sweep
    python -m bench compare before.json after.json        # two reports, as ratios

The sweep (``bench/sweep.py``) measures idle CPU, warms up, then steps the offered rate until
past the knee, offers three times the ceiling, checks the invariants, and drains an outbox
backlog through the relay (``bench/relay.py``). Each report is written as JSON and as an SVG
picture under ``bench/reports/``. A platform started with ``--start`` is removed afterwards,
its databases and logs included, unless ``BENCH_KEEP_WORKDIR`` is set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import chart, compare
from bench.sweep import DEFAULT_RATES, Bench, SweepConfig
from bench.workload import process_groups
from devstack.client import discover_token, discover_urls
from devstack.kafka import REPO_ROOT
from devstack.platform import SERVICES, Platform, PlatformConfig
from devstack.procs import Proc, free_ports, wait_for

REPORTS = REPO_ROOT / "bench" / "reports"


def _more_workers(platform: Platform, replicas: int) -> list[tuple[str, Proc]]:
    """``replicas - 1`` more worker processes of every service (each its own operations port),
    ready: they share the topics' partitions and the outbox with the platform's own."""
    extra = []
    for service in SERVICES:
        for n in range(2, replicas + 1):
            port = free_ports(1)[0]
            proc = platform.spawn_process(
                service,
                "worker",
                {f"{service.upper()}_OPS_PORT": str(port)},
                name=f"{service}-worker-{n}",
            )
            extra.append((service, proc))
            wait_for(
                lambda port=port: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200,
                120,
                f"{service}-worker-{n} to be ready",
                proc=proc,
            )
    return extra


@contextmanager
def platform_under_test(
    start: bool, service_env: dict[str, str] | None = None, worker_replicas: int = 1
) -> Iterator[tuple[dict[str, str], dict[str, Any], str]]:
    """URLs, state and a token of the platform to measure: one started here (fsync on) and
    stopped afterwards, with ``worker_replicas`` worker processes per service, or the running
    one of ``make run``."""
    if start:
        workdir = Path(tempfile.mkdtemp(prefix="booking-bench-", dir="/var/tmp"))
        workdir.chmod(0o755)  # the embedded Postgres runs as an unprivileged user
        config = PlatformConfig.ephemeral(workdir, pg_fsync=True, service_env=service_env or {})
        platform = Platform(config)
        extra: list[tuple[str, Proc]] = []
        try:
            print("starting a platform of its own (Postgres with fsync on, Kafka, 5 services)")
            platform.start()
            if worker_replicas > 1:
                print(f"starting {worker_replicas - 1} more worker(s) per service")
                extra = _more_workers(platform, worker_replicas)
            state = json.loads((workdir / "state.json").read_text())
            # CPU and memory of a service's replicas count under its worker.
            for service, proc in extra:
                state.setdefault("replica_pids", {}).setdefault(f"{service}-worker", []).append(
                    proc.pid
                )
            yield {s: platform.url(s) for s in SERVICES}, state, platform.token(ttl_s=6 * 3600)
        finally:
            for _, proc in reversed(extra):
                proc.stop(timeout=15)
            platform.stop()
            if not os.environ.get("BENCH_KEEP_WORKDIR"):  # its databases and logs, hundreds of MB
                shutil.rmtree(workdir, ignore_errors=True)
        return
    state_file = REPO_ROOT / ".local" / "platform" / "state.json"
    if not state_file.exists():
        raise SystemExit("no running platform (.local/platform/state.json): `make run` or --start")
    state = json.loads(state_file.read_text())
    # The running platform's admin principal, as bpctl speaks to its broker.
    for name, value in state.get("kafka_env", {}).items():
        os.environ.setdefault(name, value)
    if worker_replicas > 1:
        raise SystemExit("--worker-replicas needs --start (a platform of its own)")
    yield discover_urls(), state, discover_token()


def _rates(text: str) -> tuple[float, ...]:
    rates = tuple(float(r) for r in text.split(",") if r.strip())
    if not rates or any(r <= 0 for r in rates) or list(rates) != sorted(rates):
        raise argparse.ArgumentTypeError("rising positive rates, comma-separated")
    return rates


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--start", action="store_true", help="start a throwaway platform")
    common.add_argument("--relay-rows", type=int, default=20_000, help="0 skips the relay run")
    common.add_argument(
        "--availability-seconds",
        type=float,
        default=0.0,
        help="seconds per availability endpoint under concurrent clients (0 skips it)",
    )
    common.add_argument("--out", type=Path, help="report path (.json; the picture beside it)")
    common.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the services of the platform --start starts (repeatable; to A/B)",
    )
    common.add_argument(
        "--worker-replicas",
        type=int,
        default=1,
        choices=range(1, 7),
        metavar="N",
        help="worker processes per service on the platform --start starts (1-6: topics have "
        "6 partitions)",
    )
    sweep = sub.add_parser("sweep", parents=[common], help="the stepped sweep (the default)")
    defaults = SweepConfig()
    sweep.add_argument(
        "--rates",
        type=_rates,
        default=DEFAULT_RATES,
        help=f"offered rates per second, in order (default {','.join(map(str, DEFAULT_RATES))})",
    )
    for name, help_text in (
        ("step_seconds", "seconds of arrivals per step"),
        ("warmup_seconds", "seconds of warm-up at the first rate (0 skips it)"),
        ("idle_seconds", "seconds of idle CPU measured first (0 skips it)"),
        ("overload_seconds", "seconds at three times the ceiling (0 skips it)"),
        ("p99_limit_ms", "the saga p99 a step must meet"),
    ):
        sweep.add_argument(
            f"--{name.replace('_', '-')}",
            type=float,
            default=getattr(defaults, name),
            help=help_text,
        )
    sweep.add_argument(
        "--past-knee", type=int, default=defaults.past_knee, help="failing steps before stopping"
    )
    sweep.add_argument(
        "--refine",
        type=int,
        default=defaults.refine,
        help="steps bisecting between the last rate that held and the knee",
    )
    run = sub.add_parser("run", parents=[common], help="one offered rate")
    run.add_argument("--rate", type=float, default=20.0, help="arrivals per second")
    run.add_argument("--duration", type=float, default=30.0, help="seconds of arrivals")
    cmp = sub.add_parser("compare", help="two reports as ratios (after / before)")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    return p


def config_from(args: argparse.Namespace) -> SweepConfig:
    if args.command == "run":
        return SweepConfig(
            rates=(args.rate,),
            step_seconds=args.duration,
            warmup_seconds=0,
            idle_seconds=0,
            overload_seconds=0,
            past_knee=1,
            refine=0,
        )
    return SweepConfig(
        rates=args.rates,
        step_seconds=args.step_seconds,
        warmup_seconds=args.warmup_seconds,
        idle_seconds=args.idle_seconds,
        overload_seconds=args.overload_seconds,
        p99_limit_ms=args.p99_limit_ms,
        past_knee=args.past_knee,
        refine=args.refine,
    )


def summary(report: dict[str, Any]) -> str:
    lines = [
        f"{'offered/s':>9} {'confirmed/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/bk':>9}  verdict"
    ]
    steps = [*report.get("steps", []), *([report["overload"]] if "overload" in report else [])]
    for s in steps:
        lat = s["saga_latency_ms"]
        lines.append(
            f"{s['offered_per_s']:>9g} {s['confirmed_per_s']:>11} {lat['p50']!s:>8}"
            f" {lat['p99']!s:>8} {s['cpu_ms_per_booking']['total']!s:>9}"
            f"  {'; '.join(s['why_not']) or 'holds'}"
        )
    top = report.get("ceiling")
    lines.append(
        f"ceiling: {top['confirmed_per_s']} confirmed/s (offered {top['offered_per_s']:g}/s)"
        if top
        else "ceiling: no step held"
    )
    if "idle" in report:
        lines.append(f"idle: {report['idle']['machine_percent']} % of the machine")
    if "outbox_relay" in report:
        lines.append(f"relay: {report['outbox_relay']['rows_per_s']} rows/s")
    inv = report.get("invariants", {})
    lines.append(f"invariants: {'hold' if inv.get('ok') else inv.get('failed')}")
    return "\n".join(lines)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    service_env = dict(pair.split("=", 1) for pair in args.service_env)
    with platform_under_test(args.start, service_env, args.worker_replicas) as (
        urls,
        state,
        token,
    ):
        bench = Bench(
            urls=urls,
            bootstrap=state["kafka"],
            database_urls=state.get("database_urls", {}),
            groups=process_groups(state),
            token=token,
            config=config_from(args),
            say=lambda line: print(line, flush=True),
        )
        report = asyncio.run(bench.run())
        report["service_env"] = service_env
        report["worker_replicas"] = args.worker_replicas
        if args.availability_seconds:
            from bench import availability

            print(f"availability reads: {args.availability_seconds:g} s per endpoint")
            report["availability"] = asyncio.run(
                availability.run(urls, token, duration=args.availability_seconds)
            )
        if args.relay_rows and state.get("postgres_admin_url"):
            from bench import relay

            print(f"relay: draining {args.relay_rows} outbox rows")
            report["outbox_relay"] = asyncio.run(
                relay.run(state["postgres_admin_url"], state["kafka"], args.relay_rows)
            )
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        # No command: the sweep, or one rate when one is given (as the benchmark used to run).
        one_rate = any(a.split("=")[0] in ("--rate", "--duration") for a in argv)
        argv = ["run" if one_rate else "sweep", *argv]
    args = parser().parse_args(argv)
    if args.command == "compare":
        before, after = (json.loads(p.read_text()) for p in (args.before, args.after))
        print(compare.table(before, after))
        return 0
    report = measure(args)
    out = args.out or REPORTS / f"{args.command}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    out.with_suffix(".svg").write_text(chart.render(report))
    print(summary(report))
    print(f"report: {out} (picture: {out.with_suffix('.svg')})")
    return 0 if report.get("invariants", {}).get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
