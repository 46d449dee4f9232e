"""The create-booking saga across all five services, as real processes over real Kafka."""

from __future__ import annotations

import concurrent.futures
import uuid
from datetime import date, timedelta

import pytest

from devstack.client import PlatformClient, booking_body
from devstack.platform import Platform
from tests.support.db import fetch, scalar

pytestmark = pytest.mark.e2e


def a_resource(client: PlatformClient, capacity: int = 2, rate: str = "150.00") -> str:
    resource = client.create_resource(f"Villa {uuid.uuid4().hex[:6]}", capacity=capacity)
    client.create_rate_plan(resource["id"], rate, "EUR")
    return resource["id"]


def far_future(days: int = 90) -> date:
    return date.today() + timedelta(days=days)


def reserved_nights(
    client: PlatformClient, resource_id: str, start: date, nights: int
) -> list[int]:
    return [
        n["reserved"]
        for n in client.availability(resource_id, start, start + timedelta(days=nights))
    ]


def test_happy_path_ends_confirmed_with_capacity_taken_and_payment_captured(
    platform: Platform, client: PlatformClient
) -> None:
    resource_id = a_resource(client)
    start = far_future()
    trace_id = uuid.uuid4().hex
    response = client.http.post(
        f"{client.urls['booking']}/api/v1/bookings",
        json=booking_body(resource_id, start, nights=3),
        headers={"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"},
    )
    assert response.status_code == 202
    assert response.headers["Location"] == f"/api/v1/bookings/{response.json()['id']}"
    assert response.json()["status"] == "pending"
    booking = client.wait_terminal(response.json()["id"])
    assert booking["status"] == "confirmed"
    # 3 nights × 150.00 + the default 10 % exclusive tax
    assert booking["total"] == {"amount": "495.00", "currency": "EUR"}
    assert reserved_nights(client, resource_id, start, 3) == [1, 1, 1]
    payments = fetch(
        platform.database_urls["payment"],
        "SELECT status, amount FROM payments WHERE booking_id = $1",
        booking["id"],
    )
    assert [(p["status"], str(p["amount"])) for p in payments] == [("captured", "495.000000")]
    events = fetch(
        platform.database_urls["booking"],
        "SELECT ce_type FROM outbox WHERE key = $1 AND topic = 'booking.events' ORDER BY id",
        booking["id"],
    )
    assert [e["ce_type"] for e in events] == ["booking.created.v1", "booking.confirmed.v1"]
    # The request's trace id rides through the outbox, Kafka and every participant's consumer.
    for service in ("booking", "inventory", "pricing", "payment"):
        traces = fetch(
            platform.database_urls[service],
            "SELECT DISTINCT split_part(traceparent, '-', 2) AS t FROM outbox WHERE key = $1",
            booking["id"],
        )
        assert [t["t"] for t in traces] == [trace_id], service


def test_prefer_wait_answers_201_with_the_terminal_booking(client: PlatformClient) -> None:
    resource_id = a_resource(client)
    response = client.book(booking_body(resource_id, far_future(120)), wait=20)
    assert response.status_code == 201
    assert response.json()["status"] == "confirmed"


def test_declined_payment_releases_capacity_and_charges_nothing(
    platform: Platform, client: PlatformClient
) -> None:
    resource_id = a_resource(client, capacity=1)
    start = far_future(150)
    response = client.book(booking_body(resource_id, start, nights=2, pm="pm_card_declined"))
    booking = client.wait_terminal(response.json()["id"])
    assert booking["status"] == "rejected"
    assert booking["reason"] == "payment_declined"
    assert booking["reason_detail"] == "card_declined"
    assert reserved_nights(client, resource_id, start, 2) == [0, 0]
    statuses = fetch(
        platform.database_urls["payment"],
        "SELECT status FROM payments WHERE booking_id = $1",
        booking["id"],
    )
    assert [s["status"] for s in statuses] == ["failed"]
    steps = [
        m["message_type"]
        for m in client.timeline(booking["id"])["messages"]
        if m["kind"] == "command"
    ]
    assert steps[-1] == "inventory.ReleaseCapacity.v1"


def test_no_capacity_rejects_without_charging(platform: Platform, client: PlatformClient) -> None:
    resource_id = a_resource(client, capacity=1)
    start = far_future(180)
    first = client.wait_terminal(
        client.book(booking_body(resource_id, start, nights=2)).json()["id"]
    )
    assert first["status"] == "confirmed"
    second = client.wait_terminal(
        client.book(booking_body(resource_id, start + timedelta(days=1))).json()["id"]
    )
    assert second["status"] == "rejected"
    assert second["reason"] == "capacity_unavailable"
    assert second["reason_detail"] == "insufficient_capacity"
    assert (
        scalar(
            platform.database_urls["payment"],
            "SELECT count(*) FROM payments WHERE booking_id = $1",
            second["id"],
        )
        == 0
    )
    assert (
        scalar(
            platform.database_urls["pricing"],
            "SELECT count(*) FROM quotes WHERE booking_id = $1",
            second["id"],
        )
        == 0
    )
    assert reserved_nights(client, resource_id, start, 3) == [1, 1, 0]


def test_the_same_idempotency_key_twice_makes_one_booking(
    platform: Platform, client: PlatformClient
) -> None:
    resource_id = a_resource(client, capacity=5)
    body = booking_body(resource_id, far_future(200))
    key = f"key-{uuid.uuid4()}"
    first = client.book(body, key=key)
    second = client.book(body, key=key)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"

    # 20 concurrent retries of one request: one booking and one charge. Each answer is the
    # booking (the request that did the work, or a replay) or 409 while it was in flight.
    key2 = f"key-{uuid.uuid4()}"
    body2 = booking_body(resource_id, far_future(210))
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        responses = list(
            pool.map(
                lambda _: PlatformClient(client.urls, token=client.token).book(body2, key=key2),
                range(20),
            )
        )
    assert {r.status_code for r in responses} <= {202, 409}
    done = [r for r in responses if r.status_code == 202]
    assert done and len({r.json()["id"] for r in done}) == 1
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["type"].endswith("/request-in-progress")
        assert refused.headers["Retry-After"] == "1"
    replay = client.book(body2, key=key2)
    assert replay.status_code == 202 and replay.json()["id"] == done[0].json()["id"]

    count = scalar(
        platform.database_urls["booking"],
        "SELECT count(*) FROM bookings WHERE resource_id = $1",
        resource_id,
    )
    assert count == 2
    for booking_id in (first.json()["id"], done[0].json()["id"]):
        client.wait_terminal(booking_id)
        assert (
            scalar(
                platform.database_urls["payment"],
                "SELECT count(*) FROM payments WHERE booking_id = $1",
                booking_id,
            )
            == 1
        )


def test_an_idempotency_key_reused_with_another_body_is_refused(client: PlatformClient) -> None:
    resource_id = a_resource(client)
    key = f"key-{uuid.uuid4()}"
    assert client.book(booking_body(resource_id, far_future(220)), key=key).status_code == 202
    other = client.book(booking_body(resource_id, far_future(230)), key=key)
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["type"].endswith("/idempotency-key-reused")


def test_the_notifier_emails_the_guest_once_when_the_booking_is_confirmed(
    client: PlatformClient,
) -> None:
    resource_id = a_resource(client)
    booking = client.wait_terminal(
        client.book(booking_body(resource_id, far_future(240))).json()["id"]
    )
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        notes = client.http.get(
            f"{client.urls['notifier']}/api/v1/notifications",
            params={"booking_id": booking["id"], "channel": "email"},
        ).json()
        if notes and notes[0]["status"] == "delivered":
            break
        time.sleep(0.2)
    assert [(n["template"], n["status"]) for n in notes] == [("confirmed", "delivered")]
