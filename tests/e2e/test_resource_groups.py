"""Resource groups: book the room type, get a specific free room; never two guests in one."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import httpx
import pytest

from devstack.client import PlatformClient, booking_body
from devstack.platform import Platform
from tests.support.db import fetch

pytestmark = pytest.mark.e2e

START = date.today() + timedelta(days=130)


def a_group(client: PlatformClient, rooms: int, inactive: int = 0) -> tuple[str, list[str]]:
    inv = client.urls["inventory"]
    group = client.http.post(
        f"{inv}/api/v1/resource-groups", json={"name": f"Double {uuid.uuid4().hex[:6]}"}
    )
    assert group.status_code == 201
    gid = group.json()["id"]
    units = []
    for i in range(rooms + inactive):
        r = client.http.post(
            f"{inv}/api/v1/resources",
            json={"name": f"Room {i}", "capacity": 1, "timezone": "Europe/Lisbon", "group_id": gid},
        )
        assert r.status_code == 201, r.text
        units.append(r.json()["id"])
        if i >= rooms:
            client.http.patch(f"{inv}/api/v1/resources/{r.json()['id']}", json={"active": False})
    client.create_rate_plan(gid, "110.00", "EUR")  # priced per room type
    assert sorted(client.http.get(f"{inv}/api/v1/resource-groups/{gid}").json()["units"]) == sorted(
        units
    )
    return gid, units[:rooms]


async def test_concurrent_bookings_of_a_group_get_distinct_rooms_until_it_is_full(
    platform: Platform, client: PlatformClient
) -> None:
    gid, rooms = a_group(client, rooms=3, inactive=1)
    async with httpx.AsyncClient(
        base_url=client.urls["booking"], timeout=60, headers=client.http.headers
    ) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    "/api/v1/bookings",
                    json=booking_body(gid, START, nights=2, n=i),
                    headers={"Prefer": "wait=30"},
                )
                for i in range(6)
            )
        )
    finals = [client.wait_terminal(r.json()["id"]) for r in responses]
    confirmed = [b for b in finals if b["status"] == "confirmed"]
    assert len(confirmed) == 3
    assert sorted(b["unit_id"] for b in confirmed) == sorted(rooms)  # one guest per room
    assert all(b["resource_id"] == gid for b in finals)
    assert {b["reason"] for b in finals if b["status"] == "rejected"} == {"capacity_unavailable"}
    claims = fetch(
        platform.database_urls["inventory"],
        "SELECT resource_id::text, group_id::text FROM reservations WHERE booking_id = ANY($1::text[]) "
        "AND status = 'confirmed'",
        [b["id"] for b in confirmed],
    )
    assert {c["group_id"] for c in claims} == {gid} and len({c["resource_id"] for c in claims}) == 3


def test_holds_and_checks_on_a_group_pick_a_free_room(client: PlatformClient) -> None:
    gid, rooms = a_group(client, rooms=2)
    inv = client.urls["inventory"]
    later = START + timedelta(days=10)
    stay = {
        "resource_id": gid,
        "check_in": later.isoformat(),
        "check_out": (later + timedelta(days=1)).isoformat(),
        "party": {"adults": 2},
    }
    first = client.http.post(f"{inv}/api/v1/holds", json={**stay, "holder": "a"}).json()
    check = client.http.post(f"{inv}/api/v1/availability/check", json=stay).json()
    assert (
        check["available"]
        and check["unit_id"] in rooms
        and check["unit_id"] != first["resource_id"]
    )
    second = client.http.post(f"{inv}/api/v1/holds", json={**stay, "holder": "b"}).json()
    assert {first["resource_id"], second["resource_id"]} == set(rooms)
    full = client.http.post(f"{inv}/api/v1/holds", json={**stay, "holder": "c"})
    assert full.status_code == 409
    check = client.http.post(f"{inv}/api/v1/availability/check", json=stay).json()
    assert not check["available"] and [f["rule"] for f in check["failed_rules"]] == [
        "InsufficientCapacity"
    ]


def test_a_resource_in_an_unknown_group_is_422(client: PlatformClient) -> None:
    r = client.http.post(
        f"{client.urls['inventory']}/api/v1/resources",
        json={
            "name": "x",
            "capacity": 1,
            "timezone": "Europe/Lisbon",
            "group_id": str(uuid.uuid4()),
        },
    )
    assert r.status_code == 422 and r.json()["type"].endswith("/unknown-group")
