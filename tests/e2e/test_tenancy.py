"""Inventory's API is tenant-scoped and role-checked: bearer JWTs, 401/403, and another
tenant's ids answer exactly like ids that do not exist."""

from __future__ import annotations

import json
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from devstack.client import booking_body
from devstack.platform import Platform
from tests.support.db import scalar

pytestmark = pytest.mark.e2e

START = date.today() + timedelta(days=140)


class As:
    """Calls inventory with a token of one tenant and role."""

    def __init__(self, platform: Platform, tenant: str, role: str, subject: str) -> None:
        token = platform.token(tenant=tenant, roles=(role,), subject=subject)
        self.http = httpx.Client(
            base_url=platform.url("inventory") + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def __getattr__(self, verb: str) -> Any:
        return getattr(self.http, verb)


@pytest.fixture(scope="module")
def tenants(platform: Platform) -> dict[str, As]:
    t1, t2 = f"t1-{uuid.uuid4().hex[:6]}", f"t2-{uuid.uuid4().hex[:6]}"
    return {
        "staff1": As(platform, t1, "staff", "staff-1"),
        "admin1": As(platform, t1, "admin", "admin-1"),
        "guest1": As(platform, t1, "guest", "guest-1"),
        "other_guest1": As(platform, t1, "guest", "guest-2"),
        "staff2": As(platform, t2, "admin", "admin-2"),
    }


def _stay(resource_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "resource_id": resource_id,
        "check_in": START.isoformat(),
        "check_out": (START + timedelta(days=2)).isoformat(),
        "party": {"adults": 2},
        **extra,
    }


def _resource(who: As, **extra: Any) -> dict[str, Any]:
    r = who.post(
        "/resources",
        json={"name": "Scoped", "capacity": 2, "timezone": "Europe/Lisbon", **extra},
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_requests_without_a_valid_token_are_401(platform: Platform) -> None:
    inv = platform.url("inventory") + "/api/v1"
    with httpx.Client(timeout=30) as http:
        missing = http.get(f"{inv}/resources")
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert missing.headers["content-type"].startswith("application/problem+json")
        token = platform.token(tenant="t1")
        header, payload, signature = token.split(".")
        forged = f"{header}.{payload}.{signature[::-1]}"
        bad = http.get(f"{inv}/resources", headers={"Authorization": f"Bearer {forged}"})
        assert bad.status_code == 401 and forged not in bad.text
        assert 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
        expired = platform.token(tenant="t1", ttl_s=-120)
        late = http.get(f"{inv}/resources", headers={"Authorization": f"Bearer {expired}"})
        assert late.status_code == 401 and "expired" in late.json()["detail"]
        basic = http.get(f"{inv}/resources", headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert basic.status_code == 401
    # Health, readiness, metrics and the API description stay open (probes, scrapers, gateway).
    with httpx.Client(timeout=30) as http:
        for path in ("/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"):
            assert http.get(platform.url("inventory") + path).status_code == 200, path


def test_guests_cannot_administer(tenants: dict[str, As]) -> None:
    guest, staff = tenants["guest1"], tenants["staff1"]
    created = guest.post("/resources", json={"name": "x", "capacity": 1, "timezone": "UTC"})
    assert created.status_code == 403
    rid = _resource(staff)["id"]
    assert guest.patch(f"/resources/{rid}", json={"capacity": 1}).status_code == 403
    assert guest.put(f"/resources/{rid}/rules", json={}).status_code == 403
    blackout = {
        "scope": "tenant",
        "kind": "holiday",
        "reason": "x",
        "starts_on": START.isoformat(),
        "ends_on": (START + timedelta(days=1)).isoformat(),
    }
    assert guest.post("/blackouts", json=blackout).status_code == 403
    assert guest.get("/blackouts").status_code == 403
    assert guest.post("/resource-groups", json={"name": "g"}).status_code == 403
    # ... but may read and check availability in their tenant.
    assert guest.get(f"/resources/{rid}").status_code == 200
    assert guest.post("/availability/check", json=_stay(rid)).json()["available"] is True


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def test_another_tenants_ids_answer_as_if_they_did_not_exist(tenants: dict[str, As]) -> None:
    mine, theirs = tenants["staff1"], tenants["staff2"]
    rid = _resource(mine, venue_id="v-shared-name")["id"]
    tour = _resource(mine, booking_mode="timeslot", kind="tour")["id"]
    mine.post(
        f"/resources/{tour}/schedules",
        json={
            "recurrence": "daily",
            "valid_from": START.isoformat(),
            "start_time": "10:00",
            "duration_minutes": 60,
        },
    ).raise_for_status()
    day = {"start": START.isoformat(), "end": (START + timedelta(days=1)).isoformat()}
    mine.post(f"/resources/{tour}/slots/generate", json=day).raise_for_status()
    slot = mine.get(f"/resources/{tour}/slots", params=day).json()[0]["id"]
    group = mine.post("/resource-groups", json={"name": "Doubles"}).json()["id"]
    hold = mine.post("/holds", json=_stay(rid)).json()["id"]
    ids = {"id": rid, "tour": tour, "slot": slot, "group": group, "hold": hold}
    nowhere = {k: str(uuid.uuid4()) for k in ids}

    def same_as_missing(call: Any, path: str, **kw: Any) -> None:
        foreign = call(path.format(**ids), **_fill(kw, ids))
        missing = call(path.format(**nowhere), **_fill(kw, nowhere))
        assert foreign.status_code == missing.status_code, (path, foreign.text)
        assert foreign.status_code in (404, 422), (path, foreign.text)
        assert foreign.json()["type"] == missing.json()["type"], path

    month = START.strftime("%Y-%m")
    same_as_missing(theirs.get, "/resources/{id}")
    same_as_missing(theirs.patch, "/resources/{id}", json={"name": "mine now"})
    same_as_missing(theirs.put, "/resources/{id}/rules", json={"min_stay_nights": 5})
    same_as_missing(theirs.get, "/resources/{id}/availability", params=day)
    same_as_missing(theirs.get, "/resources/{id}/calendar", params={"month": month})
    same_as_missing(theirs.post, "/availability/check", json=_stay("{id}"))
    same_as_missing(theirs.post, "/holds", json=_stay("{id}"))
    same_as_missing(theirs.get, "/resource-groups/{group}")
    same_as_missing(theirs.post, "/availability/check", json=_stay("{group}"))
    same_as_missing(theirs.get, "/holds/{hold}")
    same_as_missing(theirs.post, "/holds/{hold}/extend", json={"ttl_seconds": 60})
    same_as_missing(theirs.delete, "/holds/{hold}")
    same_as_missing(
        theirs.post,
        "/resources",
        json={"name": "r", "capacity": 1, "timezone": "UTC", "group_id": "{group}"},
    )
    same_as_missing(
        theirs.post,
        "/resources/{tour}/schedules",
        json={
            "recurrence": "daily",
            "valid_from": START.isoformat(),
            "start_time": "12:00",
            "duration_minutes": 30,
        },
    )
    same_as_missing(theirs.post, "/resources/{tour}/slots/generate", json=day)
    same_as_missing(theirs.get, "/resources/{tour}/slots", params=day)
    same_as_missing(theirs.post, "/slots/{slot}/holds", json={"party": {"adults": 1}})
    same_as_missing(theirs.post, "/slots/{slot}/cancel", json={"reason": "mine now"})
    same_as_missing(
        theirs.post,
        "/blackouts",
        json={
            "scope": "resource",
            "resource_id": "{id}",
            "kind": "custom",
            "reason": "x",
            "starts_on": START.isoformat(),
            "ends_on": (START + timedelta(days=1)).isoformat(),
        },
    )
    own_slots = mine.get(f"/resources/{tour}/slots", params=day).json()
    assert (
        own_slots[0]["status"] == "open" and own_slots[0]["available"] == own_slots[0]["capacity"]
    )
    # Nothing of tenant 2's calls changed tenant 1's data.
    after = mine.get(f"/resources/{rid}").json()
    assert after["name"] == "Scoped" and after["rules"]["min_stay_nights"] == 1
    assert mine.get(f"/holds/{hold}").json()["status"] == "held"
    # Lists and searches see only the caller's tenant, even for the same venue name.
    assert rid not in {r["id"] for r in theirs.get("/resources", params={"limit": 500}).json()}
    search = {"venue_id": "v-shared-name", **_stay("x")}
    search.pop("resource_id")
    assert theirs.post("/availability/search", json=search).json()["considered"] == 0
    assert mine.post("/availability/search", json=search).json()["considered"] == 1


def test_a_tenant_wide_blackout_stays_in_its_tenant(tenants: dict[str, As]) -> None:
    mine, theirs = tenants["staff1"], tenants["staff2"]
    my_rid, their_rid = _resource(mine)["id"], _resource(theirs)["id"]
    day = START + timedelta(days=30)
    blackout = theirs.post(
        "/blackouts",
        json={
            "scope": "tenant",
            "kind": "weather",
            "reason": "storm",
            "starts_on": day.isoformat(),
            "ends_on": (day + timedelta(days=1)).isoformat(),
        },
    )
    assert blackout.status_code == 201
    stay = {
        "check_in": day.isoformat(),
        "check_out": (day + timedelta(days=1)).isoformat(),
        "party": {"adults": 1},
    }
    assert not theirs.post("/availability/check", json={"resource_id": their_rid, **stay}).json()[
        "available"
    ]
    assert mine.post("/availability/check", json={"resource_id": my_rid, **stay}).json()[
        "available"
    ]
    blackout_id = blackout.json()["blackout"]["id"]
    assert blackout_id not in {b["id"] for b in mine.get("/blackouts").json()}
    assert mine.delete(f"/blackouts/{blackout_id}").status_code == 404
    assert theirs.delete(f"/blackouts/{blackout_id}").status_code == 204


def test_a_guest_sees_and_releases_only_their_own_holds(tenants: dict[str, As]) -> None:
    staff, guest, other = tenants["staff1"], tenants["guest1"], tenants["other_guest1"]
    rid = _resource(staff, capacity=3)["id"]
    mine = guest.post("/holds", json=_stay(rid))
    assert mine.status_code == 201 and mine.json()["holder"] == "guest-1"
    hold = mine.json()["id"]
    assert guest.post("/holds", json=_stay(rid, holder="guest-2")).status_code == 403
    for call in (
        lambda: other.get(f"/holds/{hold}"),
        lambda: other.post(f"/holds/{hold}/extend", json={"ttl_seconds": 60}),
        lambda: other.delete(f"/holds/{hold}"),
    ):
        assert call().status_code == 404
    assert staff.get(f"/holds/{hold}").json()["status"] == "held"  # staff see the tenant's
    assert guest.delete(f"/holds/{hold}").status_code == 204
    assert guest.get(f"/holds/{hold}").json()["status"] == "released"
    # Staff may hold for someone else (a phone booking).
    assert staff.post("/holds", json=_stay(rid, holder="phone-7")).json()["holder"] == "phone-7"


def test_a_booking_is_checked_against_the_callers_tenant(
    platform: Platform, tenants: dict[str, As]
) -> None:
    rid = _resource(tenants["staff1"])["id"]
    body = booking_body(rid, START + timedelta(days=60))
    url = platform.url("booking") + "/api/v1/bookings"
    with httpx.Client(timeout=30) as http:
        anonymous = http.post(url, json=body)
        assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"]
        foreign = http.post(url, json=body, headers=tenants["staff2"].http.headers)
        assert foreign.status_code == 422 and foreign.json()["type"].endswith("unknown-resource")
        own = http.post(url, json=body, headers=tenants["guest1"].http.headers)
        assert own.status_code == 202, own.text


def test_a_resource_id_cannot_steer_the_inventory_lookup(
    platform: Platform, tenants: dict[str, As]
) -> None:
    url = platform.url("booking") + "/api/v1/bookings"
    with httpx.Client(timeout=30) as http:
        for sneaky in ("../resources", "x/../../resource-groups", "%2e%2e", "a?b=c", "a#b"):
            body = booking_body(sneaky, START + timedelta(days=61))
            r = http.post(url, json=body, headers=tenants["staff1"].http.headers)
            assert r.status_code == 422, (sneaky, r.text)
            assert r.json()["type"].endswith("unknown-resource"), sneaky


def _plan(http: httpx.Client, who: As, price: str, **target: str) -> httpx.Response:
    return http.post(
        "/rate-plans",
        json={**target, "currency": "EUR", "base_price": price},
        headers=who.http.headers,
    )


def _booked(platform: Platform, who: As, resource_id: str, day: date) -> dict[str, Any]:
    """A booking of ``resource_id`` by ``who``, run through the saga to its end."""
    with httpx.Client(base_url=platform.url("booking") + "/api/v1", timeout=60) as http:
        made = http.post(
            "/bookings",
            json=booking_body(resource_id, day),
            headers={**who.http.headers, "Prefer": "wait=30"},
        )
        assert made.status_code in (201, 202), made.text
        booking_id = made.json()["id"]
        for _ in range(600):
            doc = http.get(f"/bookings/{booking_id}", headers=who.http.headers).json()
            if doc["status"] in ("confirmed", "rejected"):
                return doc
            time.sleep(0.1)
    raise AssertionError(f"booking {booking_id} did not end: {doc['status']}")


def test_one_tenant_cannot_price_another_tenants_bookings(
    platform: Platform, tenants: dict[str, As]
) -> None:
    """The attack: staff of tenant X make a rate plan for tenant Y's resource, or for a venue of
    the same name as Y's, and Y's next booking is charged X's price. Plans are only made for the
    tenant's own resources and venues, and the saga prices only with the booking's tenant's
    plans (the command carries the tenant), so neither reaches Y's bookings."""
    y_staff, y_admin, y_guest = tenants["staff1"], tenants["admin1"], tenants["guest1"]
    x_admin = tenants["staff2"]
    venue = f"harbour-{uuid.uuid4().hex[:6]}"
    priced = _resource(y_staff, venue_id=venue)["id"]
    unpriced = _resource(y_staff, venue_id=venue)["id"]
    x_own = _resource(x_admin, venue_id=venue)["id"]  # X's venue of the same name
    with httpx.Client(base_url=platform.url("pricing") + "/api/v1", timeout=30) as http:
        # X cannot make a plan for Y's resource: answered as for a resource that does not exist.
        for target in (priced, str(uuid.uuid4())):
            refused = _plan(http, x_admin, "1.00", resource_id=target)
            assert refused.status_code == 422, refused.text
            assert refused.json()["type"].endswith("unknown-resource")
        assert _plan(http, x_admin, "1.00", venue_id=f"nowhere-{venue}").status_code == 422
        # What X may do: price its own resource, and its own venue of the same name as Y's.
        x_plan = _plan(http, x_admin, "1.00", resource_id=x_own)
        assert x_plan.status_code == 201, x_plan.text
        assert _plan(http, x_admin, "1.00", venue_id=venue).status_code == 201
        # Rate plans are an admin's: Y's staff may not make one, Y's admin may.
        assert _plan(http, y_staff, "200.00", resource_id=priced).status_code == 403
        assert _plan(http, y_admin, "200.00", resource_id=priced).status_code == 201
    # A plan of X's on Y's resource from before plans were checked, newer than Y's own.
    scalar(
        platform.database_urls["pricing"],
        "UPDATE rate_plans SET resource_id = $1, created_at = now() + interval '1 hour' "
        "WHERE id = CAST($2 AS uuid) RETURNING id",
        priced,
        x_plan.json()["id"],
    )
    day = START + timedelta(days=90)
    own = _booked(platform, y_guest, priced, day)
    assert own["status"] == "confirmed", own
    # Y's price for two nights (with whatever the default plan adds), never X's 1.00 a night.
    assert own["total"]["currency"] == "EUR"
    assert Decimal(own["total"]["amount"]) >= Decimal("400.00"), own["total"]
    # Y's other resource has no plan of Y's: X's venue plan of the same name does not price it.
    none = _booked(platform, y_guest, unpriced, day)
    assert (none["status"], none["reason"]) == ("rejected", "pricing_failed"), none
    assert "no_rate_plan" in (none["reason_detail"] or ""), none


async def test_a_price_command_without_a_tenant_is_never_priced_by_a_venue_plan(
    platform: Platform, tenants: dict[str, As]
) -> None:
    """An orchestrator older than tenant-scoped commands (a rolling upgrade) sends PriceBooking
    without a tenant: it is priced by a plan made for that very resource, never by another
    tenant's plan for a venue of the same name."""
    import asyncio

    from contracts.common import Party, StayPeriod
    from contracts.pricing import PriceBooking
    from contracts.topics import PRICING_COMMANDS
    from tests.support.db import fetch
    from tests.support.kafka import envelope_of, publish, record_of

    y_admin, x_admin = tenants["admin1"], tenants["staff2"]
    venue = f"quay-{uuid.uuid4().hex[:6]}"
    own_plan = _resource(y_admin, venue_id=venue)["id"]
    venue_only = _resource(y_admin, venue_id=venue)["id"]
    x_resource = _resource(x_admin, venue_id=venue)["id"]
    with httpx.Client(base_url=platform.url("pricing") + "/api/v1", timeout=30) as http:
        assert _plan(http, y_admin, "90.00", resource_id=own_plan).status_code == 201
        assert _plan(http, x_admin, "1.00", resource_id=x_resource).status_code == 201
        assert _plan(http, x_admin, "1.00", venue_id=venue).status_code == 201
    booking_ids, records = {}, []
    for name, rid in (("own_plan", own_plan), ("venue_only", venue_only)):
        booking_id = str(uuid.uuid4())
        booking_ids[name] = booking_id
        cmd = PriceBooking(
            booking_id=booking_id,
            step="price_booking",
            resource_id=rid,
            period=StayPeriod(check_in=START, check_out=START + timedelta(days=2)),
            party=Party(adults=2),
            venue_id=venue,
        )
        assert cmd.tenant_id is None
        records.append(record_of(envelope_of(cmd, booking_id)))
    await publish(platform, PRICING_COMMANDS.name, records)

    async def reply_of(booking_id: str) -> dict[str, Any]:
        for _ in range(300):
            rows = fetch(
                platform.database_urls["pricing"],
                "SELECT ce_type, payload FROM outbox WHERE key = $1",
                booking_id,
            )
            if rows:
                return {"type": rows[0]["ce_type"], **json.loads(rows[0]["payload"])}
            await asyncio.sleep(0.1)
        raise AssertionError(f"no reply for {booking_id}")

    priced = await reply_of(booking_ids["own_plan"])
    assert priced["type"].startswith("pricing.BookingPriced"), priced
    assert Decimal(priced["total"]["amount"]) >= Decimal("180.00"), priced
    refused = await reply_of(booking_ids["venue_only"])
    assert refused["type"].startswith("pricing.BookingPricingFailed"), refused
    assert refused["reason"] == "no_rate_plan", refused
