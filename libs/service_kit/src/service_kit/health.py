"""What "ready" means for every process: Postgres and Kafka answer. Liveness never asks them
(a dependency's outage must not restart every pod); it only needs the process to answer."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def kafka_reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    for hostport in bootstrap.split(","):
        host, _, port = hostport.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host.strip("[]"), int(port)), timeout
            )
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return True
        except (OSError, TimeoutError, ValueError):
            continue
    return False


async def dependency_checks(engine: AsyncEngine, bootstrap: str) -> dict[str, str]:
    """``{"database": "ok"|"unavailable: ...", "kafka": "ok"|"unavailable"}``."""
    checks: dict[str, str] = {}
    try:
        async with engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), 2.0)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    checks["kafka"] = "ok" if await kafka_reachable(bootstrap) else "unavailable"
    return checks
