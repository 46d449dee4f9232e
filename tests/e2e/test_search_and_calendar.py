"""Venue search and the monthly calendar."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from devstack.client import PlatformClient, booking_body

pytestmark = pytest.mark.e2e


def resource(client: PlatformClient, venue: str, capacity: int = 1, **rules) -> str:  # type: ignore[no-untyped-def]
    r = client.http.post(
        f"{client.urls['inventory']}/api/v1/resources",
        json={
            "name": f"S {uuid.uuid4().hex[:6]}",
            "capacity": capacity,
            "timezone": "Europe/Lisbon",
            "venue_id": venue,
            "rules": rules,
        },
    )
    assert r.status_code == 201, r.text
    client.create_rate_plan(r.json()["id"], "60.00", "EUR")
    return r.json()["id"]


def test_search_lists_the_resources_of_a_venue_that_can_take_the_stay(
    client: PlatformClient,
) -> None:
    venue = f"v-{uuid.uuid4().hex[:6]}"
    free = resource(client, venue, capacity=2)
    booked = resource(client, venue)
    strict = resource(client, venue, min_stay_nights=5)
    resource(client, f"other-{venue}")
    start = date.today() + timedelta(days=140)
    assert (
        client.wait_terminal(client.book(booking_body(booked, start, nights=2)).json()["id"])[
            "status"
        ]
        == "confirmed"
    )
    r = client.http.post(
        f"{client.urls['inventory']}/api/v1/availability/search",
        json={
            "venue_id": venue,
            "check_in": start.isoformat(),
            "check_out": (start + timedelta(days=2)).isoformat(),
            "party": {"adults": 2},
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["considered"] == 3
    assert [(h["resource_id"], h["available_units"]) for h in body["available"]] == [(free, 2)]
    assert strict not in {h["resource_id"] for h in body["available"]}
    bad = client.http.post(
        f"{client.urls['inventory']}/api/v1/availability/search",
        json={
            "venue_id": venue,
            "check_in": start.isoformat(),
            "check_out": start.isoformat(),
            "party": {"adults": 2},
        },
    )
    assert bad.status_code == 422


def test_the_calendar_shows_spots_bookability_and_levels_per_day(client: PlatformClient) -> None:
    venue = f"v-{uuid.uuid4().hex[:6]}"
    rid = resource(client, venue, capacity=5, check_in_weekdays=[5])
    month = date.today().replace(day=1) + timedelta(days=200)
    first = month.replace(day=1)
    saturday = first + timedelta(days=(5 - first.weekday()) % 7)
    for i in range(4):  # 4 of 5 units taken on that Saturday night
        b = client.wait_terminal(
            client.book(booking_body(rid, saturday, nights=1, n=i)).json()["id"]
        )
        assert b["status"] == "confirmed"
    r = client.http.get(
        f"{client.urls['inventory']}/api/v1/resources/{rid}/calendar",
        params={"month": first.strftime("%Y-%m")},
    )
    assert r.status_code == 200, r.text
    days = {d["date"]: d for d in r.json()["days"]}
    sat = days[saturday.isoformat()]
    assert (sat["available_spots"], sat["bookable"], sat["level"]) == (1, True, "low")
    next_sat = days.get((saturday + timedelta(days=7)).isoformat())
    if next_sat:
        assert (next_sat["available_spots"], next_sat["level"]) == (5, "high")
    sunday = days[(saturday + timedelta(days=1)).isoformat()]
    assert (sunday["bookable"], sunday["level"]) == (False, "none")  # no check-in on Sundays
    assert (
        client.http.get(
            f"{client.urls['inventory']}/api/v1/resources/{rid}/calendar",
            params={"month": "2027-13"},
        ).status_code
        == 422
    )
