"""Holds over REST: hold, look, release; full, refused and malformed requests."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from devstack.client import PlatformClient, booking_body
from devstack.platform import Platform
from tests.support.db import scalar
from tests.support.kafka import envelope_of, publish, record_of

pytestmark = pytest.mark.e2e

START = date.today() + timedelta(days=100)


def a_resource(client: PlatformClient, capacity: int = 1, **rules) -> str:  # type: ignore[no-untyped-def]
    r = client.http.post(
        f"{client.urls['inventory']}/api/v1/resources",
        json={
            "name": f"Hold {uuid.uuid4().hex[:6]}",
            "capacity": capacity,
            "timezone": "Europe/Lisbon",
            "rules": rules,
        },
    )
    assert r.status_code == 201
    client.create_rate_plan(r.json()["id"], "90.00", "EUR")
    return r.json()["id"]


def hold(client: PlatformClient, resource_id: str, nights: int = 2, adults: int = 2, **extra):  # type: ignore[no-untyped-def]
    return client.http.post(
        f"{client.urls['inventory']}/api/v1/holds",
        json={
            "resource_id": resource_id,
            "check_in": START.isoformat(),
            "check_out": (START + timedelta(days=nights)).isoformat(),
            "party": {"adults": adults},
            "holder": "cart-42",
            **extra,
        },
    )


def reserved(client: PlatformClient, resource_id: str) -> list[int]:
    return [
        n["reserved"] for n in client.availability(resource_id, START, START + timedelta(days=2))
    ]


def test_a_hold_takes_capacity_until_it_is_deleted(client: PlatformClient) -> None:
    rid = a_resource(client)
    created = hold(client, rid)
    assert created.status_code == 201
    body = created.json()
    assert created.headers["Location"] == f"/api/v1/holds/{body['id']}"
    assert body["status"] == "held" and body["holder"] == "cart-42" and body["expires_at"]
    assert reserved(client, rid) == [1, 1]
    assert hold(client, rid).status_code == 409  # the only unit is held
    url = f"{client.urls['inventory']}/api/v1/holds/{body['id']}"
    assert client.http.delete(url).status_code == 204
    assert client.http.delete(url).status_code == 204  # idempotent
    assert client.http.get(url).json()["status"] == "released"
    assert reserved(client, rid) == [0, 0]


def test_a_hold_blocks_a_booking_of_the_last_unit(client: PlatformClient) -> None:
    rid = a_resource(client)
    assert hold(client, rid).status_code == 201
    booking = client.wait_terminal(client.book(booking_body(rid, START, nights=2)).json()["id"])
    assert (booking["status"], booking["reason"]) == ("rejected", "capacity_unavailable")


def test_refused_and_malformed_holds_are_problems_and_write_nothing(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client, min_stay_nights=3, max_party=2)
    before = scalar(platform.database_urls["inventory"], "SELECT count(*) FROM reservations")
    refused = hold(client, rid, nights=1, adults=4)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert sorted(f["rule"] for f in refused.json()["failed_rules"]) == [
        "MinimumStayNotMet",
        "PartyTooLarge",
    ]
    unknown = hold(client, str(uuid.uuid4()), nights=3)
    assert unknown.status_code == 422 and unknown.json()["type"].endswith("/unknown-resource")
    for extra in ({"ttl_seconds": 0}, {"holder": ""}, {"check_out": START.isoformat()}):
        assert hold(client, rid, nights=3, **extra).status_code == 422
    assert (
        scalar(platform.database_urls["inventory"], "SELECT count(*) FROM reservations") == before
    )
    for bad in ("nope", str(uuid.uuid4())):
        r = client.http.get(f"{client.urls['inventory']}/api/v1/holds/{bad}")
        assert r.status_code == 404 and r.json()["type"].endswith("/hold-not-found")


def test_a_confirmed_booking_cannot_be_released_as_a_hold(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client)
    booking = client.wait_terminal(client.book(booking_body(rid, START, nights=2)).json()["id"])
    assert booking["status"] == "confirmed"
    url = f"{client.urls['inventory']}/api/v1/holds/{booking['reservation_id']}"
    r = client.http.delete(url)
    assert r.status_code == 409 and r.json()["type"].endswith("/hold-confirmed")
    assert reserved(client, rid) == [1, 1]


def test_a_hold_can_be_extended_while_held_but_not_after_release(client: PlatformClient) -> None:
    rid = a_resource(client)
    created = hold(client, rid, ttl_seconds=60).json()
    url = f"{client.urls['inventory']}/api/v1/holds/{created['id']}"
    extended = client.http.post(f"{url}/extend", json={"ttl_seconds": 3600})
    assert extended.status_code == 200
    assert extended.json()["expires_at"] > created["expires_at"]
    client.http.delete(url)
    refused = client.http.post(f"{url}/extend", json={"ttl_seconds": 3600})
    assert refused.status_code == 409 and refused.json()["type"].endswith("/hold-not-held")


async def test_the_extend_hold_command_answers_the_saga(
    platform: Platform, client: PlatformClient
) -> None:
    import asyncio
    import time

    from contracts.inventory import ExtendHold
    from contracts.topics import INVENTORY_COMMANDS

    rid = a_resource(client)
    booking = client.wait_terminal(
        client.book(booking_body(rid, START + timedelta(days=5))).json()["id"]
    )
    command = ExtendHold(
        booking_id=booking["id"],
        step="extend_hold",
        reservation_id=booking["reservation_id"],
        seconds=600,
    )
    await publish(
        platform, INVENTORY_COMMANDS.name, [record_of(envelope_of(command, booking["id"]))]
    )
    deadline = time.monotonic() + 30
    replies: list[str] = []
    while time.monotonic() < deadline and "inventory.HoldExtensionRefused.v1" not in replies:
        replies = [
            m["message_type"]
            for m in client.timeline(booking["id"])["messages"]
            if m["kind"] == "reply"
        ]
        await asyncio.sleep(0.2)
    assert "inventory.HoldExtensionRefused.v1" in replies  # a confirmed booking is not a hold


def test_checkout_holds_then_books_and_the_hold_becomes_the_booking(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client)
    body = booking_body(rid, START + timedelta(days=20), nights=2)
    guest = PlatformClient(client.urls, token=platform.token(roles=("guest",), subject="ana"))
    stranger = PlatformClient(client.urls, token=platform.token(roles=("guest",), subject="bob"))
    try:
        held = guest.http.post(
            f"{client.urls['inventory']}/api/v1/holds",
            json={
                "resource_id": rid,
                "check_in": body["check_in"],
                "check_out": body["check_out"],
                "party": {"adults": 2},
            },
        )
        assert held.status_code == 201, held.text
        hold_id = held.json()["id"]
        # Someone else cannot book on Ana's hold (and the only unit is held by it).
        theirs = stranger.book({**body, "hold_id": hold_id}, wait=20).json()
        assert (theirs["status"], theirs["reason_detail"]) == ("rejected", "hold_not_usable")
        booking = guest.book({**body, "hold_id": hold_id}, wait=20).json()
        assert booking["status"] == "confirmed" and booking["reservation_id"] == hold_id
        start = date.fromisoformat(body["check_in"])
        nights = client.availability(rid, start, start + timedelta(days=2))
        assert [n["reserved"] for n in nights] == [1, 1]  # the hold, not a second claim
        claim = guest.http.get(f"{client.urls['inventory']}/api/v1/holds/{hold_id}").json()
        assert claim["status"] == "confirmed"
    finally:
        guest.close()
        stranger.close()


def test_guest_holds_are_limited_in_number_length_and_life(
    platform: Platform, client: PlatformClient
) -> None:
    """A guest holds at most 5 at once (ten concurrent requests make exactly five), for at most
    15 minutes at a time and an hour in all; staff are not limited. Each refusal is a clear
    4xx and takes nothing."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    rid = a_resource(client, capacity=50)
    guest = f"quota-{uuid.uuid4().hex[:6]}"
    headers = {"Authorization": f"Bearer {platform.token(roles=('guest',), subject=guest)}"}
    url = f"{client.urls['inventory']}/api/v1/holds"
    body = {
        "resource_id": rid,
        "check_in": START.isoformat(),
        "check_out": (START + timedelta(days=1)).isoformat(),
        "party": {"adults": 1},
    }
    with httpx.Client(timeout=30, headers=headers) as http:
        too_long = http.post(url, json={**body, "ttl_seconds": 901})
        assert too_long.status_code == 422 and too_long.json()["type"].endswith("/hold-too-long")
        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda _: http.post(url, json=body), range(10)))
        assert sorted(a.status_code for a in answers) == [201] * 5 + [409] * 5
        refused = next(a for a in answers if a.status_code == 409)
        assert refused.json()["type"].endswith("/hold-quota-exceeded")
        assert reserved(client, rid)[0] == 5
        held = next(a.json() for a in answers if a.status_code == 201)
        extend = f"{url}/{held['id']}/extend"
        assert http.post(extend, json={"ttl_seconds": 901}).status_code == 422
        assert http.post(extend, json={"ttl_seconds": 600}).status_code == 200
        scalar(
            platform.database_urls["inventory"],
            "UPDATE reservations SET created_at = now() - interval '55 minutes' "
            "WHERE id = $1::uuid RETURNING id",
            held["id"],
        )
        late = http.post(extend, json={"ttl_seconds": 600})
        assert late.status_code == 409 and late.json()["type"].endswith("/hold-limit-reached")
        # Releasing one frees a place in the quota.
        assert http.delete(f"{url}/{held['id']}").status_code == 204
        assert http.post(url, json=body).status_code == 201
    # Staff hold for anyone, as long and as many as they need.
    for _ in range(6):
        staff_hold = client.http.post(url, json={**body, "holder": guest, "ttl_seconds": 7200})
        assert staff_hold.status_code == 201, staff_hold.text
