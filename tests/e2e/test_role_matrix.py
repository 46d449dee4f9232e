"""Every operation of every committed OpenAPI document, probed by every kind of caller: no
token, the guest who owns the objects, another guest, staff, an admin, and another tenant's
admin. What each may do is written here, independently of the code (``MIN_ROLE``), and the test
fails when an operation is added to the documents without being classified.

Path ids are real objects of tenant A (a resource, a guest's booking, hold, payment, quote,
rate plan, webhook endpoint, ...) wherever the operation only reads, or the caller is another
tenant's admin (who must find nothing, so nothing can change). Operations that change things
get ids that exist nowhere when tenant A's own callers probe them, and bodies are empty: the
probe is about who is let in, not about the operation, and it changes no data.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.client import booking_body
from devstack.platform import SERVICES, Platform

pytestmark = pytest.mark.e2e

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api"
RANK = {"public": -1, "guest": 0, "staff": 1, "admin": 2}
ADMIN_ONLY = "admin"

# Who may call what: guests act for themselves, staff run the tenant's day, admins move money
# and decide trust (refunds, verifying a transfer, rate plans, webhook endpoints).
MIN_ROLE: dict[tuple[str, str, str], str] = {
    ("booking", "GET", "/api/v1/bookings"): "guest",
    ("booking", "POST", "/api/v1/bookings"): "guest",
    ("booking", "GET", "/api/v1/bookings/reference/{reference}"): "guest",
    ("booking", "GET", "/api/v1/bookings/{booking_id}"): "guest",
    ("booking", "PATCH", "/api/v1/bookings/{booking_id}"): "guest",
    ("booking", "GET", "/api/v1/bookings/{booking_id}/history"): "guest",
    ("booking", "POST", "/api/v1/bookings/{booking_id}/cancel"): "guest",
    ("booking", "POST", "/api/v1/bookings/{booking_id}/modify"): "guest",
    ("booking", "GET", "/api/v1/bookings/{booking_id}/audit"): "staff",
    ("booking", "GET", "/api/v1/bookings/{booking_id}/timeline"): "staff",
    ("booking", "POST", "/api/v1/bookings/{booking_id}/check-in"): "staff",
    ("booking", "POST", "/api/v1/bookings/{booking_id}/complete"): "staff",
    ("booking", "POST", "/api/v1/bookings/{booking_id}/no-show"): "staff",
    ("booking", "POST", "/api/v1/bookings/{booking_id}/saga/retry"): "staff",
    ("booking", "POST", "/api/v1/bookings/{booking_id}/verify-payment"): "admin",
    ("booking", "GET", "/api/v1/waitlist"): "guest",
    ("booking", "POST", "/api/v1/waitlist"): "guest",
    ("booking", "GET", "/api/v1/waitlist/{entry_id}"): "guest",
    ("booking", "POST", "/api/v1/waitlist/{entry_id}/accept"): "guest",
    ("booking", "POST", "/api/v1/waitlist/{entry_id}/cancel"): "guest",
    ("inventory", "POST", "/api/v1/availability/check"): "guest",
    ("inventory", "POST", "/api/v1/availability/search"): "guest",
    ("inventory", "GET", "/api/v1/blackouts"): "staff",
    ("inventory", "POST", "/api/v1/blackouts"): "staff",
    ("inventory", "DELETE", "/api/v1/blackouts/{blackout_id}"): "staff",
    ("inventory", "POST", "/api/v1/holds"): "guest",
    ("inventory", "GET", "/api/v1/holds/{hold_id}"): "guest",
    ("inventory", "DELETE", "/api/v1/holds/{hold_id}"): "guest",
    ("inventory", "POST", "/api/v1/holds/{hold_id}/extend"): "guest",
    ("inventory", "POST", "/api/v1/resource-groups"): "staff",
    ("inventory", "GET", "/api/v1/resource-groups/{group_id}"): "guest",
    ("inventory", "GET", "/api/v1/resources"): "guest",
    ("inventory", "POST", "/api/v1/resources"): "staff",
    ("inventory", "GET", "/api/v1/resources/{resource_id}"): "guest",
    ("inventory", "PATCH", "/api/v1/resources/{resource_id}"): "staff",
    ("inventory", "GET", "/api/v1/resources/{resource_id}/audit"): "staff",
    ("inventory", "GET", "/api/v1/resources/{resource_id}/availability"): "guest",
    ("inventory", "GET", "/api/v1/resources/{resource_id}/calendar"): "guest",
    ("inventory", "PUT", "/api/v1/resources/{resource_id}/rules"): "staff",
    ("inventory", "POST", "/api/v1/resources/{resource_id}/schedules"): "staff",
    ("inventory", "GET", "/api/v1/resources/{resource_id}/slots"): "guest",
    ("inventory", "POST", "/api/v1/resources/{resource_id}/slots/generate"): "staff",
    ("inventory", "GET", "/api/v1/slots/{slot_id}"): "guest",
    ("inventory", "POST", "/api/v1/slots/{slot_id}/cancel"): "staff",
    ("inventory", "POST", "/api/v1/slots/{slot_id}/holds"): "guest",
    ("inventory", "GET", "/api/v1/venues/{venue_id}"): "guest",
    ("notifier", "GET", "/api/v1/notifications"): "staff",
    ("notifier", "GET", "/api/v1/notifications/{notification_id}"): "staff",
    ("notifier", "POST", "/api/v1/notifications/{notification_id}/replay"): "staff",
    ("notifier", "GET", "/api/v1/webhook-endpoints"): "admin",
    ("notifier", "POST", "/api/v1/webhook-endpoints"): "admin",
    ("notifier", "GET", "/api/v1/webhook-endpoints/{endpoint_id}"): "admin",
    ("notifier", "GET", "/api/v1/webhook-endpoints/{endpoint_id}/audit"): "admin",
    ("notifier", "GET", "/api/v1/webhook-endpoints/{endpoint_id}/deliveries"): "admin",
    ("notifier", "POST", "/api/v1/webhook-endpoints/{endpoint_id}/disable"): "admin",
    ("notifier", "POST", "/api/v1/webhook-endpoints/{endpoint_id}/enable"): "admin",
    ("notifier", "POST", "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): "admin",
    ("payment", "GET", "/api/v1/bookings/{booking_id}/payment"): "staff",
    ("payment", "GET", "/api/v1/payments"): "staff",
    ("payment", "GET", "/api/v1/payments/{payment_id}"): "staff",
    ("payment", "GET", "/api/v1/payments/{payment_id}/provider-calls"): "staff",
    ("payment", "POST", "/api/v1/payments/{payment_id}/refunds"): "admin",
    ("payment", "POST", "/api/v1/payments/{payment_id}/verify"): "admin",
    ("payment", "POST", "/api/v1/webhooks/simulated-card"): "public",  # signed by the provider
    ("pricing", "POST", "/api/v1/quotes"): "guest",
    ("pricing", "GET", "/api/v1/quotes/{quote_id}"): "guest",
    ("pricing", "POST", "/api/v1/quotes/{quote_id}/modification"): "guest",
    ("pricing", "POST", "/api/v1/quotes/{quote_id}/refund"): "guest",
    ("pricing", "GET", "/api/v1/rate-plans"): "guest",
    ("pricing", "POST", "/api/v1/rate-plans"): "admin",
    ("pricing", "GET", "/api/v1/rate-plans/{plan_id}"): "guest",
    ("pricing", "GET", "/api/v1/rate-plans/{plan_id}/audit"): "admin",
    ("pricing", "PUT", "/api/v1/rate-plans/{plan_id}"): "admin",
    ("pricing", "DELETE", "/api/v1/rate-plans/{plan_id}"): "admin",
}
# Objects that belong to one guest: another guest of the tenant finds none of them.
GUEST_OWNED = {"booking_id", "reference", "hold_id", "entry_id"}
CALLERS = ("anonymous", "owner", "other_guest", "staff", "admin", "other_tenant_admin")


def required_queries() -> dict[tuple[str, str, str], dict[str, str]]:
    """What each operation's required query parameters get: an example from the document, or
    a date for a date (a week later for an ``end``)."""
    values: dict[tuple[str, str, str], dict[str, str]] = {}
    start = date.today() + timedelta(days=800)
    for service in SERVICES:
        doc = json.loads((DOCS / f"{service}.openapi.json").read_text())
        for path, operations in doc["paths"].items():
            for method, op in operations.items():
                for param in op.get("parameters", []):
                    if param.get("in") != "query" or not param.get("required"):
                        continue
                    schema = param.get("schema", {})
                    day = start + timedelta(days=7 if param["name"] == "end" else 0)
                    value = (schema.get("examples") or [day.isoformat()])[0]
                    values.setdefault((service, method.upper(), path), {})[param["name"]] = value
    return values


def committed_operations() -> set[tuple[str, str, str]]:
    found = set()
    for service in SERVICES:
        doc = json.loads((DOCS / f"{service}.openapi.json").read_text())
        for path, operations in doc["paths"].items():
            found |= {(service, method.upper(), path) for method in operations}
    return found


def test_every_committed_operation_is_classified() -> None:
    assert set(MIN_ROLE) == committed_operations()


@pytest.fixture(scope="module")
def world(platform: Platform) -> dict[str, Any]:
    """Tenant A's objects, made through the APIs, and a token per kind of caller."""
    tenant, other = f"ma-{uuid.uuid4().hex[:6]}", f"mb-{uuid.uuid4().hex[:6]}"
    owner = f"guest-{uuid.uuid4().hex[:6]}"
    tokens = {
        "owner": platform.token(tenant=tenant, roles=("guest",), subject=owner),
        "other_guest": platform.token(tenant=tenant, roles=("guest",), subject="someone"),
        "staff": platform.token(tenant=tenant, roles=("staff",), subject="clerk"),
        "admin": platform.token(tenant=tenant, roles=("admin",), subject="boss"),
        "other_tenant_admin": platform.token(tenant=other, roles=("admin",), subject="rival"),
    }
    url = {s: platform.url(s) + "/api/v1" for s in SERVICES}

    def as_(who: str) -> httpx.Client:
        return httpx.Client(timeout=60, headers={"Authorization": f"Bearer {tokens[who]}"})

    ids: dict[str, str] = {}
    day = date.today() + timedelta(days=800)
    with as_("admin") as admin, as_("owner") as guest:
        venue = f"matrix-{uuid.uuid4().hex[:6]}"
        resource = admin.post(
            f"{url['inventory']}/resources",
            json={"name": "Matrix", "capacity": 3, "timezone": "Europe/Lisbon", "venue_id": venue},
        ).json()
        ids |= {"resource_id": resource["id"], "venue_id": venue}
        plan = admin.post(
            f"{url['pricing']}/rate-plans",
            json={"resource_id": resource["id"], "currency": "EUR", "base_price": "80.00"},
        )
        assert plan.status_code == 201, plan.text
        ids["plan_id"] = plan.json()["id"]
        made = guest.post(
            f"{url['booking']}/bookings",
            json=booking_body(resource["id"], day),
            headers={"Prefer": "wait=30"},
        ).json()
        assert made["status"] == "confirmed", made
        ids |= {
            "booking_id": made["id"],
            "reference": made["reference"],
            "payment_id": made["payment_id"],
            "quote_id": made["quote_id"],
        }
        hold = guest.post(
            f"{url['inventory']}/holds",
            json={
                "resource_id": resource["id"],
                "check_in": (day + timedelta(days=5)).isoformat(),
                "check_out": (day + timedelta(days=6)).isoformat(),
                "party": {"adults": 1},
            },
        )
        assert hold.status_code == 201, hold.text
        ids["hold_id"] = hold.json()["id"]
        group = admin.post(f"{url['inventory']}/resource-groups", json={"name": "Matrix rooms"})
        ids["group_id"] = group.json()["id"]
        blackout = admin.post(
            f"{url['inventory']}/blackouts",
            json={
                "scope": "resource",
                "resource_id": resource["id"],
                "starts_on": (day + timedelta(days=40)).isoformat(),
                "ends_on": (day + timedelta(days=41)).isoformat(),
                "kind": "maintenance",
                "reason": "matrix",
            },
        )
        assert blackout.status_code == 201, blackout.text
        ids["blackout_id"] = blackout.json()["blackout"]["id"]
        # A receiver that is not there (the local platform allows loopback targets): nothing
        # is delivered, and nothing needs to be.
        endpoint = admin.post(
            f"{url['notifier']}/webhook-endpoints", json={"url": "http://127.0.0.1:9/matrix"}
        )
        assert endpoint.status_code == 201, endpoint.text
        ids["endpoint_id"] = endpoint.json()["id"]
        notes = admin.get(f"{url['notifier']}/notifications", params={"booking_id": made["id"]})
        if notes.status_code == 200 and notes.json():
            ids["notification_id"] = notes.json()[0]["id"]
    return {"tokens": tokens, "url": url, "ids": ids}


def _role_of(caller: str) -> str:
    return {"owner": "guest", "other_guest": "guest", "other_tenant_admin": "admin"}.get(
        caller, caller
    )


def _expected(key: tuple[str, str, str], caller: str, params: list[str], real: bool) -> str:
    """``401``, ``403``, ``404``, ``nothing`` (a change to another tenant's object: 404, or a
    400/422 for the empty body, which tells nothing either) or ``in``: let in (neither 401 nor
    403, never 5xx)."""
    need = MIN_ROLE[key]
    if caller == "anonymous":
        return "401"
    if RANK[_role_of(caller)] < RANK[need]:
        return "403"
    if not params:
        return "in"
    if caller == "other_tenant_admin" and real:
        return "404" if key[1] == "GET" else "nothing"
    if caller == "other_guest" and real and GUEST_OWNED & set(params):
        return "404"
    return "in"


def test_every_operation_answers_every_caller_as_its_role_and_tenant_allow(
    world: dict[str, Any],
) -> None:
    tallies: Counter[str] = Counter()
    wrong: list[str] = []
    ids = world["ids"]
    queries = required_queries()
    for key, need in sorted(MIN_ROLE.items()):
        service, method, path = key
        if need == "public":
            continue
        params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
        reads = method == "GET"
        for caller in CALLERS:
            # Tenant A's own callers change nothing: mutations get ids that exist nowhere.
            real = reads or caller == "other_tenant_admin"
            filled = path
            for name in params:
                value = ids.get(name) if real else None
                filled = filled.replace("{" + name + "}", value or str(uuid.uuid4()))
            real = real and all(ids.get(name) for name in params)
            headers = {}
            if caller != "anonymous":
                headers["Authorization"] = f"Bearer {world['tokens'][caller]}"
            if method in ("POST", "PUT", "PATCH"):
                headers |= {"Idempotency-Key": str(uuid.uuid4()), "If-Match": '"0"'}
            body = {} if method in ("POST", "PUT", "PATCH") else None
            answer = httpx.request(
                method,
                world["url"][service] + filled.removeprefix("/api/v1"),
                params=queries.get(key),
                json=body,
                headers=headers,
                timeout=60,
            )
            want = _expected(key, caller, params, real)
            got = answer.status_code
            if want == "in":
                # A read of a real object finds it (a 422 is a business answer: the slots of
                # a nightly resource, say).
                ok = got not in (401, 403) and (not reads or not real or got != 404)
            elif want == "nothing":
                ok = got in (400, 404, 422)
            else:
                ok = str(got) == want
            ok = ok and got < 500
            if reads and caller == "other_tenant_admin" and not params and got == 200:
                # A list: none of tenant A's objects in it.
                ok = ok and not any(v in answer.text for v in ids.values())
            tallies[f"{caller}:{want}"] += 1
            if not ok:
                wrong.append(f"{method} {filled} as {caller}: {got}, expected {want}")
    assert not wrong, "\n".join(wrong)
    print("probes by caller and expectation:", dict(sorted(tallies.items())))
