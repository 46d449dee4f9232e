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
