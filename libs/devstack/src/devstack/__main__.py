"""``python -m devstack run`` (make run) and ``python -m devstack demo`` (make demo); tokens
are minted by ``bpctl token`` (make token)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from devstack.client import PlatformClient, booking_body, discover_token, discover_urls
from devstack.platform import SERVICES, Platform, PlatformConfig


def _print(msg: str = "", file: Any = None) -> None:
    print(msg, flush=True, file=file)


def run(workdir: Path | None = None, free_ports: bool = False) -> int:
    config = PlatformConfig.local(workdir)
    if free_ports:  # beside another platform (bpctl's tests): every port chosen free
        config = PlatformConfig.ephemeral(
            config.workdir, external_kafka=config.external_kafka, external_db=config.external_db
        )
    platform = Platform(config)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    _print("starting Postgres, Kafka, migrations, topics and the five services ...")
    try:
        try:
            platform.start()
        except RuntimeError as exc:
            _print(f"cannot start: {exc}")
            return 1
        client = PlatformClient({s: platform.url(s) for s in SERVICES}, token=platform.token())
        resource = client.create_resource("Demo cottage", capacity=3)
        client.create_rate_plan(resource["id"], "120.00", "EUR")
        client.close()
        check_in = date.today() + timedelta(days=30)
        demo_key = (
            f"demo-{resource['id'][:8]}"  # local state persists across runs: one key per seed
        )
        _print(f"\nplatform is up in {platform.startup_s:.1f}s (logs: {config.workdir / 'logs'})")
        for service in SERVICES:
            _print(f"  {service:<10} {platform.url(service)}  (docs: {platform.url(service)}/docs)")
        _print(f"  kafka      {platform.bootstrap}")
        _print(f"\ndemo resource {resource['id']} (capacity 3, EUR 120.00 a night). Book a stay:\n")
        _print(
            "  TOKEN=$(make -s token)   # a development bearer token (tenant demo, role staff)\n"
            f"  curl -s -X POST {platform.url('booking')}/api/v1/bookings "
            '-H "Authorization: Bearer $TOKEN" \\\n'
            f"    -H 'Content-Type: application/json' -H 'Idempotency-Key: {demo_key}' "
            "-H 'Prefer: wait=5' \\\n"
            f'    -d \'{{"resource_id": "{resource["id"]}", "check_in": "{check_in}", '
            f'"check_out": "{check_in + timedelta(days=2)}", '
            '"party": {"adults": 2}, "guest": {"name": "Ana", "email": "ana@example.com", '
            '"phone": "+351912345678"}, "payment_method": "pm_card_visa"}\'\n'
        )
        _print("Ctrl-C stops everything.")
        while not stopping:
            for (service, role), proc in list(platform.procs.items()):
                if not proc.alive():
                    _print(
                        f"{service}-{role} exited ({proc.popen.returncode}); stopping.\n{proc.tail()}"
                    )
                    stopping = True
            time.sleep(0.5)
        return 0
    finally:
        _print("stopping ...")
        platform.stop()
        _print("stopped.")


def demo() -> int:
    client = PlatformClient(discover_urls(), token=discover_token())
    try:
        resource = client.create_resource(f"Demo villa {int(time.time())}", capacity=1)
        client.create_rate_plan(resource["id"], "150.00", "EUR")
    except Exception as exc:
        _print(
            f"the platform does not answer at {client.urls['inventory']} ({exc}); run `make run` first"
        )
        return 2
    start = date.today() + timedelta(days=60)
    ok = True
    results = {}
    for label, pm, offset in (
        ("card accepted", "pm_card_visa", 0),
        ("card declined", "pm_card_declined", 10),
    ):
        response = client.book(
            booking_body(resource["id"], start + timedelta(days=offset), 3, pm),
            key=f"demo-{resource['id']}-{pm}",
        )
        if response.status_code not in (201, 202):
            _print(f"{label}: unexpected {response.status_code} {response.text}")
            return 1
        booking_id = response.json()["id"]
        final = client.wait_terminal(booking_id)
        results[label] = final
        timeline = client.timeline(booking_id)
        total = final.get("total")
        _print(
            f"\n== {label}: booking {final['reference']} -> {final['status'].upper()}"
            + (f" ({final['reason']}: {final['reason_detail']})" if final.get("reason") else "")
            + (f", total {total['amount']} {total['currency']}" if total else "")
        )
        t0 = None
        for m in timeline["messages"]:
            from datetime import datetime

            at = datetime.fromisoformat(m["at"])
            t0 = t0 or at
            what = m["message_type"] or m["detail"] or ""
            _print(
                f"   +{(at - t0).total_seconds() * 1000:7.1f} ms  {m['kind']:<8} {what}"
                + (f"  [{m['step']}]" if m["step"] and m["kind"] != "note" else "")
            )
    visa, declined = results["card accepted"], results["card declined"]
    if visa["status"] != "confirmed":
        _print("FAIL: the pm_card_visa booking is not confirmed")
        ok = False
    if declined["status"] != "rejected":
        _print("FAIL: the pm_card_declined booking did not end rejected")
        ok = False
    nights = client.availability(
        resource["id"],
        date.fromisoformat(declined["check_in"]),
        date.fromisoformat(declined["check_out"]),
    )
    if any(n["reserved"] != 0 for n in nights):
        _print(f"FAIL: capacity of the declined booking is still reserved: {nights}")
        ok = False
    else:
        _print(
            "\ncapacity of the declined booking was released: "
            + ", ".join(f"{n['night']} {n['available']}/{n['capacity']} free" for n in nights)
        )
    _print("\ndemo " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("run", help="start the whole platform (make run)")
    start.add_argument("--workdir", type=Path, default=None, help="default: .local/platform")
    start.add_argument("--free-ports", action="store_true", help="any free loopback ports")
    commands.add_parser("demo", help="two bookings against a running platform (make demo)")
    args = parser.parse_args()
    if args.command == "run":
        return run(args.workdir, args.free_ports)
    return demo()


if __name__ == "__main__":
    sys.exit(main())
