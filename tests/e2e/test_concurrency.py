"""Many clients, one resource: the ledger never oversells."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import httpx
import pytest

from devstack.client import PlatformClient, booking_body
from devstack.platform import Platform
from tests.support.db import fetch, scalar

pytestmark = pytest.mark.e2e


async def test_fifty_concurrent_bookings_for_capacity_five_confirm_exactly_five(
    platform: Platform, client: PlatformClient
) -> None:
    resource = client.create_resource(f"Hostel {uuid.uuid4().hex[:6]}", capacity=5)
    client.create_rate_plan(resource["id"], "40.00", "EUR")
    start = date.today() + timedelta(days=300)
    async with httpx.AsyncClient(
        base_url=client.urls["booking"], timeout=60, headers=client.http.headers
    ) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    "/api/v1/bookings",
                    json=booking_body(resource["id"], start, nights=2, n=i),
                    headers={"Idempotency-Key": f"conc-{resource['id']}-{i}"},
                )
                for i in range(50)
            )
        )
        assert {r.status_code for r in responses} == {202}
        ids = [r.json()["id"] for r in responses]
        finals = []
        for booking_id in ids:
            for _ in range(600):
                body = (await http.get(f"/api/v1/bookings/{booking_id}")).json()
                if body["status"] in ("confirmed", "rejected"):
                    break
                await asyncio.sleep(0.1)
            finals.append(body)
    statuses = [b["status"] for b in finals]
    assert statuses.count("confirmed") == 5
    assert statuses.count("rejected") == 45
    assert {b["reason"] for b in finals if b["status"] == "rejected"} == {"capacity_unavailable"}
    nights = client.availability(resource["id"], start, start + timedelta(days=2))
    assert [n["reserved"] for n in nights] == [5, 5]
    # No capacity left reserved by the losers, no payment taken from them.
    held = fetch(
        platform.database_urls["inventory"],
        "SELECT status, count(*) FROM reservations WHERE resource_id = $1 GROUP BY status",
        resource["id"],
    )
    assert {r["status"]: r["count"] for r in held} == {"confirmed": 5}
    confirmed_ids = [b["id"] for b in finals if b["status"] == "confirmed"]
    assert (
        scalar(
            platform.database_urls["payment"],
            "SELECT count(*) FROM payments WHERE booking_id = ANY($1::text[]) AND status = 'captured'",
            confirmed_ids,
        )
        == 5
    )
    assert (
        scalar(
            platform.database_urls["payment"],
            "SELECT count(*) FROM payments WHERE booking_id = ANY($1::text[])",
            ids,
        )
        == 5
    )
