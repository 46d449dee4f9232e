"""Kill real service processes mid-saga (SIGKILL), restart them: nothing lost, nothing doubled."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import date, timedelta

import pytest

from devstack.client import PlatformClient, booking_body
from devstack.platform import Platform
from tests.support.db import fetch

pytestmark = pytest.mark.e2e


def restart(platform: Platform, service: str, role: str) -> None:
    platform.procs[(service, role)].kill()
    platform.start_service(service, role)


def test_sagas_finish_exactly_once_when_workers_are_killed_mid_flight(
    platform: Platform, client: PlatformClient
) -> None:
    capacity, requests = 6, 12
    resource = client.create_resource(f"Chalet {uuid.uuid4().hex[:6]}", capacity=capacity)
    client.create_rate_plan(resource["id"], "80.00", "EUR")
    start = date.today() + timedelta(days=500)

    # Inventory is down when the bookings arrive: its commands wait in Kafka.
    platform.procs[("inventory", "worker")].kill()
    ids = [
        client.book(
            booking_body(resource["id"], start, nights=1, n=i), key=f"fault-{uuid.uuid4()}"
        ).json()["id"]
        for i in range(requests)
    ]
    time.sleep(1.0)
    assert {client.booking(b)["status"] for b in ids} == {"pending"}
    platform.start_service("inventory", "worker")
    # Then the orchestrator and payment die mid-flight, and come back.
    time.sleep(0.5)
    restart(platform, "booking", "worker")
    restart(platform, "payment", "worker")

    finals = [client.wait_terminal(b, timeout=120) for b in ids]
    statuses = Counter(f["status"] for f in finals)
    assert statuses == {"confirmed": capacity, "rejected": requests - capacity}

    booking_db, payment_db = platform.database_urls["booking"], platform.database_urls["payment"]
    # Every state change emitted once: one created + one terminal event per booking.
    events = fetch(
        booking_db,
        "SELECT key, ce_type FROM outbox WHERE topic = 'booking.events' AND key = ANY($1::text[])",
        ids,
    )
    per_booking = Counter((e["key"], e["ce_type"]) for e in events)
    assert all(n == 1 for n in per_booking.values())
    assert len(per_booking) == 2 * requests
    # No double charge, no charge for a rejected booking.
    payments = fetch(
        payment_db,
        "SELECT booking_id, status FROM payments WHERE booking_id = ANY($1::text[])",
        ids,
    )
    assert Counter(p["booking_id"] for p in payments).most_common(1)[0][1] == 1
    confirmed = {f["id"] for f in finals if f["status"] == "confirmed"}
    assert {p["booking_id"] for p in payments if p["status"] == "captured"} == confirmed
    assert [
        n["reserved"] for n in client.availability(resource["id"], start, start + timedelta(days=1))
    ] == [capacity]
    sagas = fetch(booking_db, "SELECT status FROM sagas WHERE booking_id = ANY($1::uuid[])", ids)
    assert {s["status"] for s in sagas} <= {"succeeded", "failed"}


def test_a_compensation_that_cannot_finish_parks_visibly_and_staff_retry_completes_it(
    platform: Platform, client: PlatformClient
) -> None:
    """A guest cancels a booking awaiting a transfer while inventory's worker is down: the create
    saga's compensation (release the nights) gets no answer, runs out of attempts and parks. Once
    inventory is back, staff retry it from the API and the saga finishes."""
    resource = client.create_resource(f"Hut {uuid.uuid4().hex[:6]}", capacity=1)
    client.create_rate_plan(resource["id"], "80.00", "EUR")
    start = date.today() + timedelta(days=520)
    body = booking_body(resource["id"], start, nights=2, pm="bank_transfer")
    booking = client.book(body, wait=10).json()
    assert booking["status"] == "awaiting_payment"
    base = f"{client.urls['booking']}/api/v1/bookings/{booking['id']}"
    assert client.http.post(f"{base}/saga/retry").status_code == 409  # nothing parked

    platform.procs[("inventory", "worker")].kill()
    try:
        assert client.http.post(f"{base}/cancel").json()["status"] == "cancelled"

        def saga() -> dict:
            return client.timeline(booking["id"])["sagas"][0]

        deadline = time.monotonic() + 120  # 3 attempts x 15 s step timeout, and the scan
        while saga()["status"] != "parked" and time.monotonic() < deadline:
            time.sleep(1)
        parked = saga()
        assert (parked["status"], parked["current_step"]) == ("parked", "release_capacity")
    finally:
        platform.start_service("inventory", "worker")

    retried = client.http.post(f"{base}/saga/retry")
    assert retried.status_code == 202, retried.text
    deadline = time.monotonic() + 60
    while saga()["status"] != "failed" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert saga()["status"] == "failed"  # compensated: everything given back
    assert client.booking(booking["id"])["status"] == "cancelled"
    nights = client.availability(resource["id"], start, start + timedelta(days=2))
    assert [n["reserved"] for n in nights] == [0, 0]
    audit = client.http.get(f"{base}/audit").json()
    assert [e["action"] for e in audit].count("saga_retry") == 1
    assert client.http.post(f"{base}/saga/retry").status_code == 409
