"""Row-level security, the second wall between tenants (messaging.tenancy).

Two tenants book through the real platform; then, connected as the role the services use, every
tenant-owned table is read *without* a tenant filter, as a query whose ``WHERE tenant_id = …``
was forgotten would: acting for one tenant it sees that tenant's rows and none of the other's,
acting for none it sees nothing, and writes across the wall are refused. The services are shown
to connect as that role, and every table that names a tenant to carry a forced policy.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from devstack.client import PlatformClient, booking_body
from devstack.platform import SERVICES, Platform
from messaging import tenancy
from service_kit.db import asyncpg_dsn, make_engine

pytestmark = pytest.mark.e2e

START = date.today() + timedelta(days=260)

# Each service's tenant-owned tables and how a row names its tenant (directly, or through the
# row it belongs to).
TENANT_OF = {
    "booking": {
        "bookings": "tenant_id",
        "booking_audit": "tenant_id",
        "waitlist_entries": "tenant_id",
        "idempotency_keys": "split_part(scope, ':', 1)",
        "booking_status_history": "(SELECT tenant_id FROM bookings b WHERE b.id = t.booking_id)",
        "sagas": "(SELECT tenant_id FROM bookings b WHERE b.id = t.booking_id)",
        "saga_log": "(SELECT tenant_id FROM bookings b WHERE b.id = t.booking_id)",
        "late_payments": "(SELECT tenant_id FROM bookings b WHERE b.id = t.booking_id)",
    },
    "inventory": {
        "resource_groups": "tenant_id",
        "resources": "tenant_id",
        "audit_log": "tenant_id",
        "blackouts": "tenant_id",
        "reservations": "tenant_id",
        "capacity_nights": "(SELECT tenant_id FROM resources r WHERE r.id = t.resource_id)",
        "schedules": "(SELECT tenant_id FROM resources r WHERE r.id = t.resource_id)",
        "slots": "(SELECT tenant_id FROM resources r WHERE r.id = t.resource_id)",
    },
    "pricing": {"rate_plans": "tenant_id", "quotes": "tenant_id", "audit_log": "tenant_id"},
    "payment": {
        "payments": "tenant_id",
        "refunds": "(SELECT tenant_id FROM payments p WHERE p.id = t.payment_id)",
        "provider_calls": "tenant_id",
    },
    "notifier": {
        "booking_views": "tenant_id",
        "webhook_endpoints": "tenant_id",
        "audit_log": "tenant_id",
        "notifications": "tenant_id",
        "delivery_attempts": (
            "(SELECT tenant_id FROM notifications n WHERE n.id = t.notification_id)"
        ),
    },
}


@pytest.fixture(scope="module")
def two_tenants(platform: Platform) -> Iterator[tuple[str, str]]:
    """Tenants A and B, each with a resource, a rate plan, a webhook and a confirmed booking."""
    a, b = f"rls-a-{uuid.uuid4().hex[:6]}", f"rls-b-{uuid.uuid4().hex[:6]}"
    clients = []
    for n, tenant in enumerate((a, b)):
        c = PlatformClient(
            {s: platform.url(s) for s in SERVICES},
            token=platform.token(tenant=tenant, roles=("admin",)),
            timeout=30.0,
        )
        clients.append(c)
        resource = c.create_resource(f"Walled {n}", 2)
        c.create_rate_plan(resource["id"], "80.00")
        c.http.post(
            f"{platform.url('notifier')}/api/v1/webhook-endpoints",
            json={"url": "http://127.0.0.1:9/rls"},  # nothing listens: deliveries are tried
        ).raise_for_status()
        made = c.book(booking_body(resource["id"], START), key=f"rls-{tenant}", wait=20).json()
        assert made["status"] == "confirmed", made
    yield a, b
    for c in clients:
        c.close()


def _rows_by_tenant(url: str, table: str, owner: str, acting_for: str) -> dict[str | None, int]:
    """``SELECT … FROM table`` with no tenant filter, as the services' role acting for
    ``acting_for``: how many rows of each tenant it sees."""

    async def go() -> dict[str | None, int]:
        engine = make_engine(url, pool_size=1)
        try:
            with tenancy.acting_for(acting_for):
                async with engine.connect() as conn:
                    rows = await conn.execute(
                        text(f"SELECT {owner} AS tenant, count(*) FROM {table} t GROUP BY 1")
                    )
                    return {r.tenant: r.count for r in rows}
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_the_services_connect_as_a_role_the_policies_hold(platform: Platform) -> None:
    async def go() -> None:
        for service in SERVICES:
            conn = await asyncpg.connect(asyncpg_dsn(platform.database_urls[service]))
            try:
                users = {
                    r["usename"]
                    for r in await conn.fetch(
                        "SELECT usename FROM pg_stat_activity "
                        "WHERE datname = $1 AND application_name = 'booking-platform'",
                        service,
                    )
                }
                assert users == {f"{service}_app"}, (service, users)
                role = await conn.fetchrow(
                    "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1",
                    f"{service}_app",
                )
                assert (role["rolsuper"], role["rolbypassrls"]) == (False, False)
                owned = await conn.fetchval(
                    "SELECT count(*) FROM pg_tables WHERE tableowner = $1", f"{service}_app"
                )
                assert owned == 0, f"{service}_app owns tables: it could lift their policies"
            finally:
                await conn.close()

    asyncio.run(go())


def test_every_table_that_names_a_tenant_is_walled(platform: Platform) -> None:
    """A new tenant-owned table without a policy fails here, as do the declared ones."""

    async def go() -> None:
        for service in SERVICES:
            conn = await asyncpg.connect(asyncpg_dsn(platform.database_urls[service]))
            try:
                rows = await conn.fetch(
                    "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                    "  EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid "
                    "          AND p.polname = 'tenant_wall') AS policy, "
                    "  EXISTS (SELECT 1 FROM information_schema.columns k "
                    "          WHERE k.table_name = c.relname AND k.column_name = 'tenant_id' "
                    "          AND k.table_schema = 'public') AS names_tenant "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind = 'r'"
                )
            finally:
                await conn.close()
            walled = {r["relname"] for r in rows if r["policy"]}
            for r in rows:
                if r["names_tenant"] or r["relname"] in TENANT_OF[service]:
                    assert r["relrowsecurity"] and r["relforcerowsecurity"] and r["policy"], (
                        service,
                        r["relname"],
                    )
            assert walled == set(TENANT_OF[service]), (service, walled)

    asyncio.run(go())


@pytest.mark.parametrize(
    ("service", "table"), [(s, t) for s, tables in TENANT_OF.items() for t in tables]
)
def test_a_query_without_its_tenant_filter_sees_only_its_tenant(
    platform: Platform, two_tenants: tuple[str, str], service: str, table: str
) -> None:
    a, b = two_tenants
    app_url = platform.app_database_urls[service]
    owner = TENANT_OF[service][table]
    for _ in range(20):
        # Background work (delivery attempts to a receiver that is not there) may add rows
        # while the counts are read: compare only counts read while the table held still.
        every = _rows_by_tenant(platform.database_urls[service], table, owner, tenancy.EVERY_TENANT)
        seen_by_a = _rows_by_tenant(app_url, table, owner, a)
        seen_by_all = _rows_by_tenant(app_url, table, owner, tenancy.EVERY_TENANT)
        if every == _rows_by_tenant(
            platform.database_urls[service], table, owner, tenancy.EVERY_TENANT
        ):
            break
        time.sleep(0.5)
    assert set(seen_by_a) <= {a}, f"{table}: acting for {a} it sees {seen_by_a}"
    assert seen_by_a.get(a, 0) == every.get(a, 0), (table, seen_by_a, every.get(a))
    assert _rows_by_tenant(app_url, table, owner, tenancy.NO_TENANT) == {}, table
    assert seen_by_all == every, table
    if table in ("bookings", "resources", "rate_plans", "payments", "webhook_endpoints"):
        # The tables every booking of both tenants wrote to: both tenants' rows exist.
        assert every.get(a) and every.get(b), (table, every)


def test_writes_across_the_wall_are_refused(platform: Platform, two_tenants: tuple[str, str]):
    a, b = two_tenants

    async def go() -> None:
        engine = make_engine(platform.app_database_urls["booking"], pool_size=1)
        try:
            with tenancy.acting_for(a):
                async with engine.begin() as conn:
                    changed = await conn.execute(
                        text("UPDATE bookings SET guest_id = 'x' WHERE tenant_id = :b"),
                        {"b": b},
                    )
                    assert changed.rowcount == 0  # B's rows are not there to change
                    gone = await conn.execute(text("DELETE FROM sagas"))
                    await conn.rollback()
                    assert gone.rowcount >= 1  # A's own, rolled back
                with pytest.raises(DBAPIError, match="row-level security"):
                    async with engine.begin() as conn:
                        await conn.execute(
                            text("UPDATE bookings SET tenant_id = :b WHERE tenant_id = :a"),
                            {"a": a, "b": b},
                        )
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_a_pooled_connection_that_died_is_replaced_when_told_its_tenant(platform: Platform):
    """The tenant is set on checkout: a connection terminated while idle in the pool (a
    failover) is dropped there and another one serves, instead of a broken one being handed
    on."""

    async def go() -> None:
        engine = make_engine(platform.app_database_urls["pricing"], pool_size=1)
        admin = await asyncpg.connect(asyncpg_dsn(platform.database_urls["pricing"]))
        try:
            with tenancy.acting_for("tenant-one"):
                async with engine.connect() as conn:
                    pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
            await asyncio.sleep(0.2)
            with tenancy.acting_for("tenant-two"):  # a new tenant: set_config on checkout
                async with engine.connect() as conn:
                    shown = (
                        await conn.execute(text("SELECT current_setting('platform.tenant')"))
                    ).scalar_one()
                    again = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            assert shown == "tenant-two" and again != pid
        finally:
            await admin.close()
            await engine.dispose()

    asyncio.run(go())
