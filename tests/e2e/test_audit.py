"""What staff and admins change is audited like bookings are: resources (their rules
included), rate plans (their prices and cancellation policies) and webhook endpoints. Each
entry says who (subject and roles), from where (the client address behind the trusted proxy,
never one the caller wrote to its left; the user agent), when (the database's clock), and the
values before and after. A refused change leaves no entry, another tenant sees no trail, a
secret never enters one, and the services' own database role cannot rewrite it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest

from devstack.platform import Platform
from tests.support.db import fetch

pytestmark = pytest.mark.e2e

# The local platform trusts loopback as its ingress: the right-most address is the proxy's view.
FROM = {"X-Forwarded-For": "6.6.6.6, 198.51.100.9", "User-Agent": "ops-console/3.1 (audit)"}


class Tenant:
    def __init__(self, platform: Platform) -> None:
        self.id = f"audit-{uuid.uuid4().hex[:8]}"
        self.platform = platform
        self.admin = self._as(("admin",), "ana")
        self.staff = self._as(("staff",), "sam")
        self.guest = self._as(("guest",), "gil")

    def _as(self, roles: tuple[str, ...], subject: str) -> httpx.Client:
        token = self.platform.token(tenant=self.id, roles=roles, subject=subject)
        return httpx.Client(headers={"Authorization": f"Bearer {token}", **FROM}, timeout=30)

    def url(self, service: str, path: str) -> str:
        return f"{self.platform.url(service)}/api/v1/{path}"

    def close(self) -> None:
        for c in (self.admin, self.staff, self.guest):
            c.close()


@pytest.fixture
def tenant(platform: Platform) -> Iterator[Tenant]:
    t = Tenant(platform)
    yield t
    t.close()


@pytest.fixture
def rival(platform: Platform) -> Iterator[Tenant]:
    t = Tenant(platform)
    yield t
    t.close()


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def check_who_and_when(trail: list[dict[str, Any]], actor: str, roles: str) -> None:
    for entry in trail:
        assert (entry["actor"], entry["actor_roles"]) == (actor, roles), entry
        assert (entry["ip"], entry["user_agent"]) == ("198.51.100.9", "ops-console/3.1 (audit)")
        assert datetime.fromisoformat(entry["at"]).utcoffset() is not None
    moments = [datetime.fromisoformat(e["at"]) for e in trail]
    assert moments == sorted(moments)


def test_a_resource_s_changes_and_rules_are_audited_with_who_where_and_what(
    tenant: Tenant, rival: Tenant
) -> None:
    made = ok(
        tenant.staff.post(
            tenant.url("inventory", "resources"),
            json={"name": "Loft", "capacity": 2, "timezone": "Europe/Lisbon"},
        ),
        201,
    )
    url = tenant.url("inventory", f"resources/{made['id']}")
    ok(tenant.staff.patch(url, json={"name": "Loft 2", "capacity": 3}))
    refused = tenant.staff.patch(url, json={"capacity": 0})
    assert refused.status_code == 422, refused.text
    ok(tenant.staff.put(f"{url}/rules", json={"min_stay_nights": 2, "check_in_weekdays": [4]}))

    trail = ok(tenant.staff.get(f"{url}/audit"))
    assert [e["action"] for e in trail] == ["create", "update", "replace-rules"]
    check_who_and_when(trail, "sam", "staff")
    created, updated, rules = trail
    assert created["old"] is None and created["new"]["name"] == "Loft"
    assert (updated["old"], updated["new"]) == (
        {"name": "Loft", "capacity": 2},
        {"name": "Loft 2", "capacity": 3},
    )
    assert set(rules["old"]) == set(rules["new"]) == {"rules"}
    assert rules["old"]["rules"]["min_stay_nights"] == 1
    assert rules["new"]["rules"]["min_stay_nights"] == 2
    assert rules["new"]["rules"]["check_in_weekdays"] == [4]

    assert tenant.guest.get(f"{url}/audit").status_code == 403
    other = rival.admin.get(rival.url("inventory", f"resources/{made['id']}/audit"))
    assert other.status_code == 404, "another tenant finds no trail"


def test_a_rate_plan_s_prices_and_policies_are_audited_through_replace_and_deactivate(
    tenant: Tenant, rival: Tenant
) -> None:
    resource = ok(
        tenant.admin.post(
            tenant.url("inventory", "resources"),
            json={"name": "Suite", "capacity": 1, "timezone": "Europe/Lisbon"},
        ),
        201,
    )
    plan = ok(
        tenant.admin.post(
            tenant.url("pricing", "rate-plans"),
            json={"resource_id": resource["id"], "currency": "EUR", "base_price": "120.00"},
        ),
        201,
    )
    url = tenant.url("pricing", f"rate-plans/{plan['id']}")
    policy = [
        {"hours_before": 48, "refund_percent": "100"},
        {"hours_before": 0, "refund_percent": "0"},
    ]
    ok(
        tenant.admin.put(
            url, json={"currency": "EUR", "base_price": "135.00", "cancellation_policy": policy}
        )
    )
    staff_try = tenant.staff.put(url, json={"currency": "EUR", "base_price": "1.00"})
    assert staff_try.status_code == 403, "a refused change is no change"
    ok(tenant.admin.delete(url), 204)

    trail = ok(tenant.admin.get(f"{url}/audit"))
    assert [e["action"] for e in trail] == ["create", "replace", "deactivate"]
    check_who_and_when(trail, "ana", "admin")
    created, replaced, deactivated = trail
    assert created["old"] is None and created["new"]["plan"]["base_price"] == "120.00"
    assert replaced["old"]["plan"]["base_price"] == "120.00"
    assert replaced["new"]["plan"]["base_price"] == "135.00"
    assert replaced["old"]["version"] + 1 == replaced["new"]["version"]
    tiers = replaced["new"]["plan"]["cancellation_policy"]
    assert [t["hours_before"] for t in tiers] == [48, 0], tiers
    assert replaced["old"]["plan"]["cancellation_policy"] != tiers
    assert (deactivated["old"], deactivated["new"]) == ({"active": True}, {"active": False})

    assert tenant.staff.get(f"{url}/audit").status_code == 403
    other = rival.admin.get(rival.url("pricing", f"rate-plans/{plan['id']}/audit"))
    assert other.status_code == 404


def test_a_webhook_endpoint_s_changes_are_audited_and_no_secret_enters_the_trail(
    platform: Platform, tenant: Tenant
) -> None:
    made = ok(
        tenant.admin.post(
            tenant.url("notifier", "webhook-endpoints"),
            json={"url": "http://127.0.0.1:9/audit", "event_types": ["booking.confirmed"]},
        ),
        201,
    )
    url = tenant.url("notifier", f"webhook-endpoints/{made['id']}")
    rotated = ok(tenant.admin.post(f"{url}/rotate-secret"))
    ok(tenant.admin.post(f"{url}/disable"))
    ok(tenant.admin.post(f"{url}/enable"))

    trail = ok(tenant.admin.get(f"{url}/audit"))
    assert [e["action"] for e in trail] == ["create", "rotate-secret", "disable", "enable"]
    check_who_and_when(trail, "ana", "admin")
    assert trail[0]["new"]["url"] == "http://127.0.0.1:9/audit"
    assert list(trail[1]["new"]) == ["previous_secret_expires_at"]
    assert trail[2]["new"] == {"status": "disabled", "disabled_reason": "disabled by ana"}
    assert trail[3]["new"]["status"] == "active"
    stored = fetch(
        platform.database_urls["notifier"],
        "SELECT coalesce(json_agg(a), '[]')::text FROM audit_log a WHERE tenant_id = $1",
        tenant.id,
    )
    everything = json.dumps(trail) + stored[0][0]
    for secret in (made["secret"], rotated["secret"]):
        assert secret not in everything


def test_the_services_own_role_can_add_to_a_trail_but_never_rewrite_it(
    platform: Platform, tenant: Tenant
) -> None:
    ok(
        tenant.staff.post(
            tenant.url("inventory", "resources"),
            json={"name": "Cabin", "capacity": 1, "timezone": "Europe/Lisbon"},
        ),
        201,
    )
    for service in ("inventory", "pricing", "notifier", "booking"):
        table = "booking_audit" if service == "booking" else "audit_log"
        for statement in (f"UPDATE {table} SET actor = 'someone else'", f"DELETE FROM {table}"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                fetch(platform.app_database_urls[service], statement)
    stored = fetch(
        platform.database_urls["inventory"],
        "SELECT count(*) FROM audit_log WHERE tenant_id = $1",
        tenant.id,
    )
    assert stored[0][0] == 1
