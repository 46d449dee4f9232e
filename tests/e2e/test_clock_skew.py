"""Hosts whose clocks are off by a minute either way (libfaketime, Debian's ``faketime``):
the booking web and worker run a minute behind and a minute ahead of the database, and then
the other way round. Bookings confirm, a transfer's deadline is the database's, no step times
out spuriously: the one clock that decides deadlines is the database's."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from devstack.client import PlatformClient, booking_body
from devstack.platform import SERVICES, Platform
from devstack.procs import Proc
from tests.support.db import scalar

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("faketime") is None, reason="needs Debian's faketime"),
]


def skewed(offset: str) -> tuple[str, ...]:
    # The monotonic clock stays true: timers and timeouts in the process are not the point.
    return ("env", "FAKETIME_DONT_FAKE_MONOTONIC=1", "faketime", "-f", offset)


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def stop_with_children(proc: Proc) -> None:
    """faketime runs the service as its child and does not pass signals on: stop both."""
    kids = children(proc.pid)
    for kid in kids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(kid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{k}").exists() for k in kids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for kid in kids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(kid, signal.SIGKILL)
    proc.stop()


def run_booking_under(platform: Platform, web: str, worker: str) -> None:
    for role, offset in (("web", web), ("worker", worker)):
        stop_with_children(platform.procs[("booking", role)])
        platform.start_service("booking", role, wrapper=skewed(offset) if offset else ())
    platform.wait_ready()


@pytest.mark.parametrize(("web", "worker"), [("-60s", "+60s"), ("+60s", "-60s")])
def test_bookings_confirm_when_the_booking_hosts_clocks_are_a_minute_off(
    platform: Platform, web: str, worker: str
) -> None:
    # A token the skewed web accepts: issued well before its clock (as by an identity provider
    # whose clock is right), valid long after.
    token = platform.token(iat=int(time.time()) - 300)
    client = PlatformClient({s: platform.url(s) for s in SERVICES}, token=token, timeout=30.0)
    try:
        run_booking_under(platform, web, worker)
        ahead = httpx.get(f"{platform.url('booking')}/healthz")
        assert ahead.status_code == 200
        resource = client.create_resource(f"Skew {uuid.uuid4().hex[:6]}", capacity=3)
        client.create_rate_plan(resource["id"], "80.00", "EUR")
        start = date.today() + timedelta(days=600 + (0 if web.startswith("-") else 10))
        ids = [
            client.book(
                booking_body(resource["id"], start + timedelta(days=i), nights=1, n=i),
                key=str(uuid.uuid4()),
            ).json()["id"]
            for i in range(3)
        ]
        assert [client.wait_terminal(b, timeout=60)["status"] for b in ids] == ["confirmed"] * 3
        transfer = client.book(
            booking_body(resource["id"], start + timedelta(days=5), pm="bank_transfer"),
            key=str(uuid.uuid4()),
            wait=10,
        ).json()
        assert transfer["status"] == "awaiting_payment"
        # Its deadline is the database's now plus BOOKING_PAYMENT_DEADLINE_S (8 s), not the
        # skewed host's: within a few seconds of it, never a minute off.
        off_by = scalar(
            platform.database_urls["booking"],
            "SELECT extract(epoch FROM payment_deadline - created_at) FROM bookings "
            "WHERE id = $1::uuid",
            transfer["id"],
        )
        assert 7 <= float(off_by) <= 10, off_by
        assert client.wait_terminal(transfer["id"], timeout=60)["status"] == "expired"
        notes = scalar(
            platform.database_urls["booking"],
            "SELECT count(*) FROM saga_log WHERE booking_id = ANY($1::uuid[]) AND "
            "detail LIKE 'retry %'",
            ids,
        )
        assert notes == 0, "no step was retried: none timed out"
    finally:
        run_booking_under(platform, "", "")
        client.close()
