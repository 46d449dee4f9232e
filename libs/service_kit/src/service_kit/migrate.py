"""Alembic, shared: each service's ``migrations/env.py`` calls :func:`run_env`.

Migrations run under a Postgres advisory lock so two migration jobs (two replicas of a Helm
hook, a launcher and a test) never run the same upgrade at once. They run as the tables' owner
acting for every tenant (row-level security holds the owner too), and then grant the role the
services connect as what it needs on the tables, and nothing more (:func:`grant_to`).
"""

from __future__ import annotations

import asyncio
import zlib
from importlib import resources
from typing import Any

import asyncpg
from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from messaging import tenancy
from service_kit.audit import APPEND_ONLY
from service_kit.db import asyncpg_dsn


def owner_engine(url: str) -> AsyncEngine:
    """One connection at a time, as the migrations' role, acting for every tenant."""

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(
            asyncpg_dsn(url),
            timeout=30,
            server_settings={
                "application_name": "booking-platform-migrate",
                tenancy.SETTING: tenancy.EVERY_TENANT,
            },
        )

    return create_async_engine("postgresql+asyncpg://", async_creator=connect, poolclass=NullPool)


def _lock_id(name: str) -> int:
    return zlib.crc32(f"migrations:{name}".encode())


def run_env(target_metadata: MetaData, service: str) -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url not configured"

    def do_run(connection: Any) -> None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = owner_engine(url)
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _lock_id(service)})
            try:
                await conn.run_sync(do_run)
                await conn.commit()
            except BaseException:
                await conn.rollback()  # so the unlock below runs, and the error is the one seen
                raise
            finally:
                await conn.execute(
                    text("SELECT pg_advisory_unlock(:id)"), {"id": _lock_id(service)}
                )
                await conn.commit()
        await engine.dispose()

    asyncio.run(run_async())


def alembic_config(service_package: str, url: str) -> Config:
    cfg = Config()
    location = resources.files(service_package) / "migrations"
    cfg.set_main_option("script_location", str(location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_to_head(service_package: str, url: str, app_url: str | None = None) -> None:
    """Blocking; call from a thread or a process of its own, never inside a running loop.
    ``app_url``: the services' own URL; when its role is not the migrations' one, it is
    granted what it needs (:func:`grant_to`)."""
    command.upgrade(alembic_config(service_package, url), "head")
    app_role = make_url(app_url).username if app_url else None
    if app_role and app_role != make_url(url).username:
        asyncio.run(grant_to(url, app_role))


async def grant_to(url: str, role: str) -> None:
    """The services' role may read and write rows of every table and use their sequences; it
    owns nothing, so it can neither change the schema nor lift a table's row-level security.
    Audit trails it may only read and add to."""
    engine = owner_engine(url)
    quoted = '"' + role.replace('"', '""') + '"'
    try:
        async with engine.begin() as conn:
            database = (await conn.execute(text("SELECT current_database()"))).scalar_one()
            await conn.execute(
                text(f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO {quoted}')
            )
            schemas = (
                await conn.execute(
                    text(
                        # The schemas the migrations made (the simulated provider has its own).
                        "SELECT nspname FROM pg_namespace WHERE nspname = 'public' OR "
                        "(nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
                        "AND nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%')"
                    )
                )
            ).scalars()
            for schema in [f'"{name}"' for name in schemas]:
                for statement in (
                    f"GRANT USAGE ON SCHEMA {schema} TO {quoted}",
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "
                    f"{schema} TO {quoted}",
                    f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {quoted}",
                    f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schema} TO {quoted}",
                ):
                    await conn.execute(text(statement))
            await conn.execute(text(f"REVOKE ALL ON TABLE alembic_version FROM {quoted}"))
            await conn.execute(text(f"GRANT SELECT ON TABLE alembic_version TO {quoted}"))
            for table in APPEND_ONLY:  # audit trails: rows are added, never changed
                if (await conn.execute(text("SELECT to_regclass(:t)"), {"t": table})).scalar():
                    await conn.execute(
                        text(f"REVOKE UPDATE, DELETE, TRUNCATE ON TABLE {table} FROM {quoted}")
                    )
    finally:
        await engine.dispose()
