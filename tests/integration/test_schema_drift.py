"""Each service's tables are written twice, as SQLAlchemy metadata (what the code queries) and as
Alembic migrations (what the database is). Here they cannot drift: the database the platform
migrated is compared, for every service, with the metadata its code imports (Alembic's
``compare_metadata``: tables, columns, types, nullability, indexes, unique constraints and
foreign keys), and any difference fails with the list of what differs. Alembic does not
compare CHECK and EXCLUDE constraints, the schema's own guarantees (no night oversold, no two
claims of a unit overlapping): those are compared here by name and kind."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, MetaData, text
from sqlalchemy.dialects.postgresql import ExcludeConstraint

from devstack.platform import SERVICES, Platform
from service_kit.db import make_engine

pytestmark = pytest.mark.integration

# Alembic's own bookkeeping is in every database and in no metadata.
NOT_MODELLED = {"alembic_version"}


def _include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (type_ == "table" and name in NOT_MODELLED)


def describe(diff: Any) -> str:
    """One of ``compare_metadata``'s differences, in a line a person reads: what the database
    would have to gain (``add``) or lose (``remove``) to be the metadata."""
    if isinstance(diff, list):  # changes to one column: type, nullability, default
        return "; ".join(describe(part) for part in diff)
    kind, *rest = diff
    if kind.startswith("modify_"):
        _, table, column, _, old, new = rest
        return f"{kind} {table}.{column}: database {old!r}, metadata {new!r}"
    if kind.endswith("_column"):
        _, table, column = rest
        return f"{kind} {table}.{column.name} {column.type}"
    obj = rest[0]
    if kind.endswith("_table"):
        return f"{kind} {obj.name}"
    table = obj.table.name
    columns = ", ".join(getattr(c, "name", str(c)) for c in obj.columns) or str(
        list(getattr(obj, "expressions", []))
    )
    return f"{kind} {obj.name or '(unnamed)'} on {table}({columns})"


def differences(url: str, metadata: MetaData) -> list[Any]:
    """What Alembic would have to change in the database at ``url`` to make it ``metadata``."""

    def compare(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn,
            opts={"compare_type": True, "include_object": _include},
        )
        return list(compare_metadata(context, metadata))

    async def run() -> list[Any]:
        engine = make_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


_GUARDS = text(
    "SELECT conrelid::regclass::text, conname, contype::text FROM pg_constraint "
    "WHERE contype IN ('c', 'x') AND connamespace = 'public'::regnamespace"
)
KINDS = {"c": "check", "x": "exclude"}


def guards_in_database(url: str) -> set[tuple[str, str, str]]:
    """(table, constraint, check | exclude) of every CHECK and EXCLUDE constraint at ``url``."""

    async def run() -> set[tuple[str, str, str]]:
        engine = make_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(_GUARDS)).all()
        finally:
            await engine.dispose()
        return {(table, name, KINDS[kind]) for table, name, kind in rows}

    return asyncio.run(run())


def guards_in(metadata: MetaData) -> set[tuple[str, str, str]]:
    return {
        (table.name, str(c.name), "exclude" if isinstance(c, ExcludeConstraint) else "check")
        for table in metadata.tables.values()
        for c in table.constraints
        if isinstance(c, CheckConstraint | ExcludeConstraint)
    }


@pytest.mark.parametrize("service", SERVICES)
def test_the_migrated_database_is_the_metadata_the_code_queries(
    service: str, platform: Platform
) -> None:
    if service not in platform.database_urls:
        pytest.fail(f"the test platform has no database for {service}")
    metadata = importlib.import_module(f"{service}.adapters.tables").metadata
    url = platform.database_urls[service]
    drift = differences(url, metadata)
    assert drift == [], f"{service}: migrations and tables.py differ:\n" + "\n".join(
        map(describe, drift)
    )
    in_database, in_code = guards_in_database(url), guards_in(metadata)
    assert in_database == in_code, (
        f"{service}: CHECK/EXCLUDE constraints only migrated: {sorted(in_database - in_code)}; "
        f"only in tables.py: {sorted(in_code - in_database)}"
    )
