"""The install's smoke check (``bpctl smoke``, and the chart's ``helm test`` pod): every service
answers ready, then one booking goes through the saga and is cancelled again.

The booking is made in a tenant of its own (``smoke`` unless told) on a resource made for it, so
no real tenant's data is touched; the cancellation releases what it held. With the simulated
card's test methods (development installs) it ends ``confirmed``; in production, where they are
refused, a bank transfer stops at ``awaiting_payment``, which already took the whole saga
(inventory hold, price, payment instruction)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from devstack.client import PlatformClient, booking_body

# Where a booking stops when the saga worked, per payment method.
SETTLED = {"pm_card_visa": "confirmed", "bank_transfer": "awaiting_payment"}


class SmokeFailed(RuntimeError):
    """What did not work, said for an operator."""


@dataclass
class SmokeReport:
    ready_s: dict[str, float] = field(default_factory=dict)  # name -> seconds until ready
    booking_id: str = ""
    status: str = ""
    saga_s: float = 0.0  # from the POST to the settled status
    cancelled: bool = False


def wait_ready(
    endpoints: Mapping[str, str],
    timeout: float,
    http: httpx.Client,
    say: Callable[[str], None],
) -> dict[str, float]:
    """Poll each endpoint's /readyz until it answers 200; refuse after ``timeout``."""
    started = time.monotonic()
    waiting = dict(endpoints)
    ready: dict[str, float] = {}
    last: dict[str, str] = {}
    while waiting:
        for name, url in list(waiting.items()):
            try:
                response = http.get(f"{url}/readyz", timeout=3)
                if response.status_code == 200:
                    ready[name] = time.monotonic() - started
                    say(f"{name}: ready ({url})")
                    del waiting[name]
                    continue
                last[name] = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last[name] = type(exc).__name__
        if waiting and time.monotonic() - started > timeout:
            pending = ", ".join(f"{n} ({last.get(n, '?')})" for n in waiting)
            raise SmokeFailed(f"not ready after {timeout:.0f}s: {pending}")
        if waiting:
            time.sleep(1)
    return ready


def run(
    urls: Mapping[str, str],
    token: str | None,
    *,
    ops_urls: Mapping[str, str] | None = None,
    payment_method: str = "bank_transfer",
    timeout: float = 120.0,
    say: Callable[[str], None] = print,
) -> SmokeReport:
    if payment_method not in SETTLED:
        raise SmokeFailed(f"payment method {payment_method!r}: one of {', '.join(SETTLED)}")
    report = SmokeReport()
    client = PlatformClient(dict(urls), token=token, timeout=15)
    try:
        endpoints = {f"{s}-web": u for s, u in urls.items()}
        endpoints |= {f"{s}-worker": u for s, u in (ops_urls or {}).items()}
        report.ready_s = wait_ready(endpoints, timeout, client.http, say)
        if token is None:  # readiness only
            return report
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        try:
            resource = client.create_resource(f"Smoke check {stamp}", capacity=1)
            client.create_rate_plan(resource["id"], "100.00", "EUR")
        except httpx.HTTPStatusError as exc:
            raise SmokeFailed(_refused("making the smoke check's resource", exc)) from None
        # A day well ahead, different each run: nothing real is displaced.
        day = datetime.now(UTC).date() + timedelta(days=300 + int(time.time()) % 60)
        started = time.monotonic()
        response = client.book(
            booking_body(resource["id"], day, 1, payment_method), key=f"smoke-{stamp}", wait=30
        )
        if response.status_code not in (200, 201, 202):
            raise SmokeFailed(f"the booking was refused: HTTP {response.status_code}")
        booking = response.json()
        report.booking_id = booking["id"]
        wanted = SETTLED[payment_method]
        deadline = time.monotonic() + timeout
        while booking["status"] != wanted and time.monotonic() < deadline:
            if booking["status"] in ("rejected", "expired", "cancelled"):
                break
            time.sleep(0.2)
            booking = client.booking(report.booking_id)
        report.status = booking["status"]
        report.saga_s = time.monotonic() - started
        if report.status != wanted:
            reason = booking.get("reason") or ""
            raise SmokeFailed(
                f"booking {report.booking_id} is {report.status} {reason}".rstrip()
                + f", not {wanted}, after {report.saga_s:.1f}s"
            )
        say(f"booking {report.booking_id}: {report.status} in {report.saga_s:.2f}s")
        cancel = client.http.post(
            f"{urls['booking']}/api/v1/bookings/{report.booking_id}/cancel",
            json={"reason": "smoke check"},
            headers={"Idempotency-Key": f"smoke-cancel-{stamp}"},
        )
        if cancel.status_code != 200:
            raise SmokeFailed(f"cancelling the smoke booking: HTTP {cancel.status_code}")
        report.cancelled = True
        say(f"booking {report.booking_id}: cancelled")
        return report
    finally:
        client.close()


def _refused(what: str, exc: httpx.HTTPStatusError) -> str:
    # The status and the problem's title only: a body may echo what was sent.
    title = ""
    with contextlib.suppress(ValueError):
        title = str(exc.response.json().get("title", ""))
    return f"{what}: HTTP {exc.response.status_code} {title}".rstrip()
