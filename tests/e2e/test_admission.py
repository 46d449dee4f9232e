"""Admission control: while more sagas are in flight than the bound, or too many of them have
been in flight for too long, ``POST /bookings`` answers 503 with ``Retry-After`` and writes
nothing; an Idempotency-Key already answered is still replayed; once the backlog drains,
bookings are taken again."""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta

import httpx
import pytest

from devstack.client import booking_body
from devstack.platform import Platform
from devstack.procs import free_ports, port_open, wait_for
from tests.support.db import scalar

pytestmark = pytest.mark.e2e


def test_past_its_bound_of_sagas_in_flight_the_api_refuses_new_bookings_with_503(
    platform: Platform,
) -> None:
    refuses_while_the_backlog_lasts(platform, {"BOOKING_MAX_IN_FLIGHT_SAGAS": "2"}, 1.5)


def test_past_its_bound_of_late_sagas_the_api_refuses_new_bookings_with_503(
    platform: Platform,
) -> None:
    """The bound that follows capacity: two sagas in flight are no backlog, until both have
    been in flight for longer than the 2 s allowed here."""
    refuses_while_the_backlog_lasts(
        platform,
        {
            "BOOKING_MAX_IN_FLIGHT_SAGAS": "2000",
            "BOOKING_ADMISSION_MAX_LATE_SAGAS": "2",
            "BOOKING_ADMISSION_LATE_AFTER_S": "2",
        },
        3.5,
    )


def refuses_while_the_backlog_lasts(
    platform: Platform, env: dict[str, str], late_by_s: float
) -> None:
    port = free_ports(1)[0]
    web = platform.spawn_process(  # a second web beside the suite's
        "booking",
        "web",
        {"BOOKING_HTTP_PORT": str(port), **env},
        name="booking-web-admission",
    )
    headers = {"Authorization": f"Bearer {platform.token()}"}
    base = f"http://127.0.0.1:{port}/api/v1/bookings"
    inventory = platform.procs[("inventory", "worker")]
    try:
        wait_for(lambda: port_open(port), 60, "the bounded web", proc=web)
        with httpx.Client(timeout=30.0, headers=headers) as http:
            r = http.post(
                f"{platform.url('inventory')}/api/v1/resources",
                json={
                    "name": f"Bound {uuid.uuid4().hex[:6]}",
                    "booking_mode": "nightly",
                    "capacity": 5,
                    "timezone": "UTC",
                },
            )
            resource = r.json()["id"]
            http.post(
                f"{platform.url('pricing')}/api/v1/rate-plans",
                json={"resource_id": resource, "currency": "EUR", "base_price": "50.00"},
            ).raise_for_status()
            day = date.today() + timedelta(days=650)
            inventory.kill()  # reservations wait in Kafka: the sagas stay in flight
            first_key = str(uuid.uuid4())
            accepted = [
                http.post(
                    base,
                    json=booking_body(resource, day + timedelta(days=i)),
                    headers={"Idempotency-Key": first_key if i == 0 else str(uuid.uuid4())},
                )
                for i in range(2)
            ]
            assert [a.status_code for a in accepted] == [202, 202]
            time.sleep(late_by_s)  # the web reads its backlog at most once a second
            before = scalar(platform.database_urls["booking"], "SELECT count(*) FROM bookings")
            refused = http.post(
                base,
                json=booking_body(resource, day + timedelta(days=3)),
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["type"].endswith("/overloaded")
            assert int(refused.headers["retry-after"]) > 0
            after = scalar(platform.database_urls["booking"], "SELECT count(*) FROM bookings")
            assert after == before, "a refused booking wrote nothing"
            replay = http.post(
                base, json=booking_body(resource, day), headers={"Idempotency-Key": first_key}
            )
            assert replay.status_code == 202 and replay.headers.get("idempotent-replayed")
            platform.start_service("inventory", "worker")
            for a in accepted:
                booking = a.json()["id"]
                wait_for(
                    lambda booking=booking: (
                        http.get(f"{base}/{booking}").json()["status"] == "confirmed"
                    ),
                    90,
                    "the backlog to drain",
                )
            time.sleep(1.5)
            again = http.post(
                base,
                json=booking_body(resource, day + timedelta(days=4)),
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            assert again.status_code == 202, again.text
    finally:
        if not platform.procs[("inventory", "worker")].alive():
            platform.start_service("inventory", "worker")
        web.stop()
        platform.wait_ready()
