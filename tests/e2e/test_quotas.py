"""Per-guest quotas on the booking API: unpaid bank-transfer bookings and waitlist entries.
Concurrent requests of one guest cannot pass a quota together; staff are not limited; each
refusal is a clear 409 and writes nothing. (Hold quotas: tests/e2e/test_holds.py.)"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import httpx
import pytest

from devstack.client import PlatformClient, booking_body, guest
from devstack.platform import Platform
from tests.support.db import scalar

pytestmark = pytest.mark.e2e

START = date.today() + timedelta(days=700)


def _guest_client(platform: Platform) -> tuple[str, httpx.Client]:
    subject = f"quota-{uuid.uuid4().hex[:8]}"
    token = platform.token(roles=("guest",), subject=subject)
    return subject, httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"})


def test_a_guest_has_at_most_three_unpaid_transfers(
    platform: Platform, client: PlatformClient
) -> None:
    resource = client.create_resource(f"Quota {uuid.uuid4().hex[:6]}", capacity=20)
    client.create_rate_plan(resource["id"], "50.00", "EUR")
    subject, http = _guest_client(platform)
    url = f"{client.urls['booking']}/api/v1/bookings"

    def book(n: int) -> httpx.Response:
        body = booking_body(resource["id"], START + timedelta(days=n), nights=1, pm="bank_transfer")
        return http.post(url, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})

    with http, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(book, range(8)))
        assert sorted(a.status_code for a in answers) == [202] * 3 + [409] * 5, [
            a.text for a in answers
        ]
        refused = next(a for a in answers if a.status_code == 409).json()
        assert refused["type"].endswith("/unpaid-booking-quota-exceeded")
        assert refused["limit"] == 3
        count = scalar(
            platform.database_urls["booking"],
            "SELECT count(*) FROM bookings WHERE guest_id = $1",
            subject,
        )
        assert count == 3
        # Cards are not limited, and neither are staff booking transfers for the guest.
        card = booking_body(resource["id"], START + timedelta(days=20), nights=1)
        assert http.post(url, json=card).status_code == 202
    staff_body = booking_body(
        resource["id"], START + timedelta(days=21), nights=1, pm="bank_transfer"
    )
    staff_body["guest"]["id"] = subject
    assert client.http.post(url, json=staff_body).status_code == 202


def test_a_guest_waits_in_at_most_ten_waitlist_entries(
    platform: Platform, client: PlatformClient
) -> None:
    resource = client.create_resource(f"Queue {uuid.uuid4().hex[:6]}", capacity=1)
    client.create_rate_plan(resource["id"], "50.00", "EUR")
    # The resource is full on every night asked for, so the entries keep waiting.
    for n in range(12):
        blocker = client.book(
            booking_body(resource["id"], START + timedelta(days=40 + n), nights=1)
        )
        assert client.wait_terminal(blocker.json()["id"])["status"] == "confirmed"
    subject, http = _guest_client(platform)
    url = f"{client.urls['booking']}/api/v1/waitlist"

    def join(n: int) -> httpx.Response:
        day = START + timedelta(days=40 + n)
        return http.post(
            url,
            json={
                "resource_id": resource["id"],
                "check_in": day.isoformat(),
                "check_out": (day + timedelta(days=1)).isoformat(),
                "party": {"adults": 1},
                "contact": guest(3),
            },
        )

    with http, ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(join, range(12)))
    assert sorted(a.status_code for a in answers) == [201] * 10 + [409] * 2
    refused = next(a for a in answers if a.status_code == 409).json()
    assert refused["type"].endswith("/waitlist-entry-quota-exceeded")
    waiting = scalar(
        platform.database_urls["booking"],
        "SELECT count(*) FROM waitlist_entries WHERE guest_id = $1",
        subject,
    )
    assert waiting == 10
