"""Direct database reads for assertions (tests look at what services stored, not only at APIs)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import asyncpg


async def _fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    # A thread of its own: callable from sync tests and from inside a running event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _fetch(url, sql, *args)).result()


def scalar(url: str, sql: str, *args: Any) -> Any:
    rows = fetch(url, sql, *args)
    return rows[0][0] if rows else None


async def _snapshot(url: str, queries: list[tuple[str, tuple[Any, ...]]]) -> list[list[Any]]:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return [await conn.fetch(sql, *args) for sql, args in queries]
    finally:
        await conn.close()


def snapshot(url: str, *queries: tuple[str, tuple[Any, ...]]) -> list[list[Any]]:
    """Several reads of one database as of one moment (the services keep working meanwhile)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _snapshot(url, list(queries))).result()
