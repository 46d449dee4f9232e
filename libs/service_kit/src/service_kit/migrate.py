"""Alembic, shared: each service's ``migrations/env.py`` calls :func:`run_env`.

Migrations run under a Postgres advisory lock so two migration jobs (two replicas of a Helm
hook, a launcher and a test) never run the same upgrade at once.
"""

from __future__ import annotations

import asyncio
import zlib
from importlib import resources
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from service_kit.db import sqlalchemy_url


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
        engine = create_async_engine(sqlalchemy_url(url), poolclass=NullPool)
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _lock_id(service)})
            try:
                await conn.run_sync(do_run)
                await conn.commit()
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


def upgrade_to_head(service_package: str, url: str) -> None:
    """Blocking; call from a thread or a process of its own, never inside a running loop."""
    command.upgrade(alembic_config(service_package, url), "head")
