"""A scratch database on the test platform's Postgres with the outbox and inbox tables."""

from __future__ import annotations

import asyncio

from sqlalchemy import MetaData, text

from devstack.platform import Platform
from messaging.tables import deliveries_table, inbox_table, outbox_table
from service_kit.db import make_engine

metadata = MetaData()
OUTBOX = outbox_table(metadata)
INBOX = inbox_table(metadata)
DELIVERIES = deliveries_table(metadata)


def create(platform: Platform, name: str, *extra_ddl: str) -> str:
    """Create (once) database ``name`` with outbox, inbox and ``extra_ddl``; returns its URL."""
    url = platform.create_database(name)

    async def setup() -> None:
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            for ddl in extra_ddl:
                await conn.execute(text(ddl))
        await engine.dispose()

    asyncio.run(setup())
    return url


def migrated(platform: Platform, service: str, name: str) -> str:
    """A fresh database ``name`` with ``service``'s migrations applied (its real schema)."""
    import subprocess
    import sys

    from devstack.kafka import REPO_ROOT

    url = platform.create_database(name)
    prefix = service.upper()
    env = platform.env_for(
        service, {f"{prefix}_DATABASE_URL": url, f"{prefix}_MIGRATIONS_DATABASE_URL": url}
    )
    subprocess.run(
        [sys.executable, "-m", "service_kit.main", service, "migrate"],
        env=env,
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    return url
