"""Rate limits on the public write paths, counted in the database so that two replicas of the
booking web share them: a guest past their limit gets 429 rate-limited with Retry-After from
either replica, another guest is not held up until the address's limit, staff are limited by
address only, reads are never limited, and nothing is written for a refused request."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from devstack.platform import Platform
from devstack.procs import Proc, free_ports, port_open, wait_for
from tests.support.db import scalar

pytestmark = pytest.mark.e2e

LIMITS = {"BOOKING_RATE_LIMIT_GUEST_PER_MIN": "5", "BOOKING_RATE_LIMIT_ADDRESS_PER_MIN": "12"}


def _second_web(platform: Platform, port: int) -> Proc:
    env = {**LIMITS, "BOOKING_HTTP_PORT": str(port)}
    proc = platform.spawn_process("booking", "web", env, name="booking-web-2")
    wait_for(lambda: port_open(port) or None, 60, "the second booking web", proc=proc)
    return proc


def test_write_limits_are_shared_across_replicas_and_answer_429_with_retry_after(
    platform: Platform,
) -> None:
    web = ("booking", "web")
    platform.procs[web].stop()
    platform.start_service(*web, extra_env=LIMITS)
    platform.wait_ready()
    [port] = free_ports(1)
    second = _second_web(platform, port)
    try:
        urls = [platform.url("booking"), f"http://127.0.0.1:{port}"]
        ana, bea = (f"rl-{uuid.uuid4().hex[:6]}" for _ in range(2))

        def as_(subject: str, role: str = "guest") -> dict[str, str]:
            token = platform.token(roles=(role,), subject=subject)
            return {"Authorization": f"Bearer {token}"}

        def write(base: str, headers: dict[str, str]) -> httpx.Response:
            # An empty body: counted like any write, refused (422) without writing anything.
            return httpx.post(f"{base}/api/v1/bookings", json={}, headers=headers, timeout=30)

        # The limits count in one-minute windows of the database's clock: start early in one.
        into = float(scalar(platform.database_urls["booking"], "SELECT extract(second FROM now())"))
        if into > 40:
            time.sleep(61 - into)
        # Ana's five writes a minute, spread over both replicas, then 429 from either.
        answers = [write(urls[n % 2], as_(ana)).status_code for n in range(5)]
        assert answers == [422] * 5
        for base in urls:
            refused = write(base, as_(ana))
            assert refused.status_code == 429, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["type"].endswith("/rate-limited")
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Reads are not limited.
        read = httpx.get(f"{urls[0]}/api/v1/bookings", headers=as_(ana), timeout=30)
        assert read.status_code == 200
        # Bea is not held up by Ana, and staff are not limited per token; the address (12
        # writes a minute, ana's seven included) stops everyone from here in the end.
        assert write(urls[1], as_(bea)).status_code == 422
        staff = [write(urls[n % 2], as_("clerk", "staff")).status_code for n in range(4)]
        assert staff == [422] * 4
        assert write(urls[0], as_(bea)).status_code == 429
        assert write(urls[1], as_("clerk", "staff")).status_code == 429
        assert (
            scalar(
                platform.database_urls["booking"],
                "SELECT count(*) FROM bookings WHERE guest_id = ANY($1::text[])",
                [ana, bea],
            )
            == 0
        )
    finally:
        second.stop()
        platform.procs[web].stop()
        platform.start_service(*web)
        platform.wait_ready()
