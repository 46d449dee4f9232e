"""Row-level security: the second wall between tenants, behind every query's own filter.

Every tenant-owned table has a policy (``tenant_wall``) that shows and accepts only the rows of
the tenant named by the session setting ``platform.tenant``: a query that forgets its
``WHERE tenant_id = …`` still sees nothing of another tenant. The setting follows the code that
runs, through a context variable:

* a REST request acts for its token's tenant (``service_kit.auth`` sets it on authentication);
* a message handler acts for the message's ``tenant_id``;
* platform work that spans tenants (sweepers, the relay, start-up, a provider's webhook, a
  command of the previous release that names no tenant) says so with :func:`every_tenant`;
* anything else sees nothing: an unscoped path fails closed.

Each pooled connection is told its tenant when it is checked out, and only when that differs
from what it was last told (``service_kit.db``), so a run of one tenant's requests costs no
extra round trip. The policies apply because the services connect as a role that neither is a
superuser nor has ``BYPASSRLS``, and the tables are ``FORCE ROW LEVEL SECURITY`` so even their
owner is held to them; migrations say :data:`EVERY_TENANT` for their data changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

SETTING = "platform.tenant"
EVERY_TENANT = "*"
NO_TENANT = ""  # sees no tenant-owned row

_current: ContextVar[str] = ContextVar("platform_tenant", default=NO_TENANT)


def current() -> str:
    """The tenant the running code acts for: a tenant id, :data:`EVERY_TENANT` or
    :data:`NO_TENANT`."""
    return _current.get()


def act_for(tenant: str | None) -> None:
    """From here on in this task (a request, a handler), act for ``tenant``; ``None`` (a message
    of the previous release that names none) acts for every tenant, as that release did."""
    _current.set(EVERY_TENANT if tenant is None else tenant)


@contextmanager
def acting_for(tenant: str | None) -> Iterator[None]:
    token = _current.set(EVERY_TENANT if tenant is None else tenant)
    try:
        yield
    finally:
        _current.reset(token)


@contextmanager
def every_tenant() -> Iterator[None]:
    """Platform work across tenants: a sweeper, start-up, a provider's webhook."""
    with acting_for(None):
        yield


_TENANT = f"current_setting('{SETTING}', true)"


# A column default: the tenant the writing session acts for (none for platform work).
ACTING_TENANT_DEFAULT = f"NULLIF(NULLIF({_TENANT}, '{EVERY_TENANT}'), '{NO_TENANT}')"


@dataclass(frozen=True)
class Wall:
    """One table's policy: ``owned`` is true for a row of the tenant acted for."""

    table: str
    owned: str

    def raise_ddl(self) -> list[str]:
        visible = f"({_TENANT} = '{EVERY_TENANT}' OR {self.owned})"
        return [
            f"ALTER TABLE {self.table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {self.table} FORCE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS tenant_wall ON {self.table}",
            f"CREATE POLICY tenant_wall ON {self.table} USING {visible} WITH CHECK {visible}",
        ]

    def lower_ddl(self) -> list[str]:
        return [
            f"DROP POLICY IF EXISTS tenant_wall ON {self.table}",
            f"ALTER TABLE {self.table} NO FORCE ROW LEVEL SECURITY",
            f"ALTER TABLE {self.table} DISABLE ROW LEVEL SECURITY",
        ]


def by_column(table: str, column: str = "tenant_id") -> Wall:
    """``table``'s rows are its ``column``'s tenant's (a row without one, written by a release
    before tenants were recorded: platform work's only)."""
    return Wall(table, f"{column} = {_TENANT}")


def by_prefix(table: str, column: str) -> Wall:
    """``column`` begins with the row's tenant and a colon (``<tenant>:<rest>``)."""
    return Wall(table, f"starts_with({column}, {_TENANT} || ':')")


def by_parent(table: str, column: str, parent: str, parent_column: str = "id") -> Wall:
    """``table``'s rows belong to the tenant of the ``parent`` row they point at; the parent's
    own policy decides (policies apply inside policies)."""
    return Wall(
        table, f"EXISTS (SELECT 1 FROM {parent} p WHERE p.{parent_column} = {table}.{column})"
    )


def raise_walls(op: Any, walls: Iterable[Wall]) -> None:
    """In a migration: enable and force row-level security with each wall's policy."""
    for wall in walls:
        for ddl in wall.raise_ddl():
            op.execute(ddl)


def lower_walls(op: Any, walls: Iterable[Wall]) -> None:
    for wall in walls:
        for ddl in wall.lower_ddl():
            op.execute(ddl)
