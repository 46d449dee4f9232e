"""Timeslot resources over REST: schedules, idempotent generation, listing, holds, cancellation."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from devstack.client import PlatformClient
from tests.support.kafka import envelope_of

pytestmark = pytest.mark.e2e

START = date.today() + timedelta(days=30)


def a_tour(client: PlatformClient, seats: int = 10) -> str:
    r = client.http.post(
        f"{client.urls['inventory']}/api/v1/resources",
        json={
            "name": f"Tour {uuid.uuid4().hex[:6]}",
            "booking_mode": "timeslot",
            "kind": "tour",
            "capacity": seats,
            "timezone": "Europe/Lisbon",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_nine_to_five_generates_sixteen_slots_a_day_once_and_skips_blackouts(
    client: PlatformClient,
) -> None:
    inv = client.urls["inventory"]
    rid = a_tour(client)
    schedule = client.http.post(
        f"{inv}/api/v1/resources/{rid}/schedules",
        json={
            "recurrence": "daily",
            "valid_from": START.isoformat(),
            "work_start": "09:00",
            "work_end": "17:00",
            "slot_minutes": 30,
        },
    )
    assert schedule.status_code == 201, schedule.text
    assert schedule.json()["spec"]["capacity"] == 10
    closed = START + timedelta(days=1)
    assert (
        client.http.post(
            f"{inv}/api/v1/blackouts",
            json={
                "scope": "resource",
                "resource_id": rid,
                "kind": "holiday",
                "reason": "feast",
                "starts_on": closed.isoformat(),
                "ends_on": (closed + timedelta(days=1)).isoformat(),
            },
        ).status_code
        == 201
    )
    span = {"start": START.isoformat(), "end": (START + timedelta(days=3)).isoformat()}
    first = client.http.post(f"{inv}/api/v1/resources/{rid}/slots/generate", json=span).json()
    assert (first["created"], first["already_there"]) == (32, 0)
    assert first["skipped_blackout_days"] == [closed.isoformat()]
    again = client.http.post(f"{inv}/api/v1/resources/{rid}/slots/generate", json=span).json()
    assert (again["created"], again["already_there"]) == (0, 32)
    slots = client.http.get(
        f"{inv}/api/v1/resources/{rid}/slots",
        params={"start": START.isoformat(), "end": (START + timedelta(days=3)).isoformat()},
    ).json()
    assert len(slots) == 32 and {s["available"] for s in slots} == {10}


def test_slot_holds_take_seats_and_a_cancelled_slot_lists_its_claims(
    client: PlatformClient,
) -> None:
    inv = client.urls["inventory"]
    rid = a_tour(client, seats=4)
    client.http.post(
        f"{inv}/api/v1/resources/{rid}/schedules",
        json={
            "recurrence": "weekly",
            "weekdays": [0, 1, 2, 3, 4, 5, 6],
            "valid_from": START.isoformat(),
            "start_time": "10:00",
            "duration_minutes": 120,
        },
    )
    client.http.post(
        f"{inv}/api/v1/resources/{rid}/slots/generate",
        json={"start": START.isoformat(), "end": (START + timedelta(days=1)).isoformat()},
    )
    slot = client.http.get(
        f"{inv}/api/v1/resources/{rid}/slots",
        params={"start": START.isoformat(), "end": (START + timedelta(days=2)).isoformat()},
    ).json()[0]
    hold = client.http.post(
        f"{inv}/api/v1/slots/{slot['id']}/holds",
        json={"party": {"adults": 2, "children": 1}, "holder": "family"},
    )
    assert hold.status_code == 201, hold.text
    assert (hold.json()["quantity"], hold.json()["slot_id"]) == (3, slot["id"])
    too_many = client.http.post(
        f"{inv}/api/v1/slots/{slot['id']}/holds", json={"party": {"adults": 2}, "holder": "couple"}
    )
    assert too_many.status_code == 409
    cancelled = client.http.post(
        f"{inv}/api/v1/slots/{slot['id']}/cancel", json={"reason": "storm"}
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["slot"]["status"] == "cancelled"
    assert [c["id"] for c in cancelled.json()["affected_claims"]] == [hold.json()["id"]]
    refused = client.http.post(
        f"{inv}/api/v1/slots/{slot['id']}/holds", json={"party": {"adults": 1}, "holder": "late"}
    )
    assert refused.status_code == 422
    assert client.http.delete(f"{inv}/api/v1/holds/{hold.json()['id']}").status_code == 204
    after = client.http.get(
        f"{inv}/api/v1/resources/{rid}/slots",
        params={"start": START.isoformat(), "end": (START + timedelta(days=2)).isoformat()},
    ).json()[0]
    assert (after["reserved"], after["available"]) == (0, 0)  # cancelled: nothing on offer


def test_bad_schedules_and_ranges_are_422(client: PlatformClient) -> None:
    inv = client.urls["inventory"]
    rid = a_tour(client)
    for bad in (
        {
            "recurrence": "daily",
            "valid_from": START.isoformat(),
            "work_start": "17:00",
            "work_end": "09:00",
            "slot_minutes": 30,
        },
        {
            "recurrence": "weekly",
            "valid_from": START.isoformat(),
            "start_time": "10:00",
            "duration_minutes": 60,
        },
        {
            "recurrence": "rrule",
            "rrule": "FREQ=SOMETIMES",
            "valid_from": START.isoformat(),
            "start_time": "10:00",
            "duration_minutes": 60,
        },
    ):
        r = client.http.post(f"{inv}/api/v1/resources/{rid}/schedules", json=bad)
        assert r.status_code == 422, (bad, r.text)
    nightly = client.create_resource(f"Flat {uuid.uuid4().hex[:6]}", capacity=1)
    r = client.http.post(
        f"{inv}/api/v1/resources/{nightly['id']}/schedules",
        json={
            "recurrence": "daily",
            "valid_from": START.isoformat(),
            "start_time": "10:00",
            "duration_minutes": 60,
        },
    )
    assert r.status_code == 422 and r.json()["type"].endswith("/not-a-timeslot-resource")
    for span in (
        {"start": START.isoformat(), "end": START.isoformat()},
        {"start": "2020-01-01", "end": "2020-01-02"},
    ):
        assert (
            client.http.post(f"{inv}/api/v1/resources/{rid}/slots/generate", json=span).status_code
            == 422
        )


def test_the_calendar_of_a_timeslot_resource_counts_slots_and_seats_per_day(
    client: PlatformClient,
) -> None:
    inv = client.urls["inventory"]
    rid = a_tour(client, seats=2)
    first = (START + timedelta(days=40)).replace(day=1)
    client.http.post(
        f"{inv}/api/v1/resources/{rid}/schedules",
        json={
            "recurrence": "daily",
            "valid_from": first.isoformat(),
            "work_start": "09:00",
            "work_end": "17:00",
            "slot_minutes": 30,
        },
    )
    client.http.post(
        f"{inv}/api/v1/resources/{rid}/slots/generate",
        json={"start": first.isoformat(), "end": (first + timedelta(days=30)).isoformat()},
    )
    slots = client.http.get(
        f"{inv}/api/v1/resources/{rid}/slots",
        params={"start": first.isoformat(), "end": (first + timedelta(days=1)).isoformat()},
    ).json()
    for slot in slots[:3]:  # fill three slots of the first day
        assert (
            client.http.post(
                f"{inv}/api/v1/slots/{slot['id']}/holds",
                json={"party": {"adults": 2}, "holder": "x"},
            ).status_code
            == 201
        )
    cal = client.http.get(
        f"{inv}/api/v1/resources/{rid}/calendar", params={"month": first.strftime("%Y-%m")}
    ).json()["days"]
    assert (cal[0]["slots"], cal[0]["available_spots"], cal[0]["level"]) == (13, 26, "high")
    assert (cal[1]["slots"], cal[1]["available_spots"]) == (16, 32)


async def test_the_saga_commands_claim_confirm_and_release_slot_seats(
    platform, client: PlatformClient
) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import time

    from aiokafka import AIOKafkaProducer

    from contracts.common import StayPeriod
    from contracts.inventory import ConfirmReservation, ReleaseCapacity, ReserveCapacity
    from contracts.topics import INVENTORY_COMMANDS
    from tests.support.db import fetch

    inv = client.urls["inventory"]
    rid = a_tour(client, seats=5)
    day = START + timedelta(days=3)
    client.http.post(
        f"{inv}/api/v1/resources/{rid}/schedules",
        json={
            "recurrence": "daily",
            "valid_from": day.isoformat(),
            "start_time": "10:00",
            "duration_minutes": 90,
        },
    )
    client.http.post(
        f"{inv}/api/v1/resources/{rid}/slots/generate",
        json={"start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat()},
    )
    slot = client.http.get(
        f"{inv}/api/v1/resources/{rid}/slots",
        params={"start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat()},
    ).json()[0]
    booking_id = f"slot-{uuid.uuid4()}"
    period = StayPeriod(check_in=day, check_out=day + timedelta(days=1))
    producer = AIOKafkaProducer(**platform.kafka_kwargs())
    await producer.start()

    async def send(command) -> None:  # type: ignore[no-untyped-def]
        env = envelope_of(command, booking_id)
        await producer.send_and_wait(
            INVENTORY_COMMANDS.name, env.data, key=booking_id.encode(), headers=env.headers()
        )

    async def claim_status() -> str | None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows = fetch(
                platform.database_urls["inventory"],
                "SELECT status FROM reservations WHERE booking_id = $1",
                booking_id,
            )
            if rows:
                return rows[0]["status"]
            await asyncio.sleep(0.2)
        return None

    def seats() -> int:
        return client.http.get(
            f"{inv}/api/v1/resources/{rid}/slots",
            params={"start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat()},
        ).json()[0]["reserved"]

    try:
        await send(
            ReserveCapacity(
                booking_id=booking_id,
                step="reserve_capacity",
                resource_id=rid,
                period=period,
                party_size=3,
                slot_id=slot["id"],
            )
        )
        assert await claim_status() == "held" and seats() == 3
        claim_id = fetch(
            platform.database_urls["inventory"],
            "SELECT id::text FROM reservations WHERE booking_id = $1",
            booking_id,
        )[0]["id"]
        await send(
            ConfirmReservation(
                booking_id=booking_id, step="confirm_reservation", reservation_id=claim_id
            )
        )
        for _ in range(150):
            if await claim_status() == "confirmed":
                break
            await asyncio.sleep(0.2)
        assert await claim_status() == "confirmed"
        await send(
            ReleaseCapacity(booking_id=booking_id, step="release_capacity", reservation_id=claim_id)
        )
        for _ in range(150):
            if await claim_status() == "released":
                break
            await asyncio.sleep(0.2)
        assert await claim_status() == "released" and seats() == 0
    finally:
        await producer.stop()
