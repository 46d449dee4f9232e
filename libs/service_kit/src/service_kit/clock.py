"""One clock decides deadlines: the database's.

Web and worker hosts drift (a pod 45 s behind its database would park or reject every saga it
starts if it computed deadlines that the database's ``now()`` then compares). So every
deadline, expiry and ``pay_by`` is computed from, and compared with, the time of the
transaction it is written in: ``now()``, the start of that transaction on the database server.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_NOW = text("SELECT now()")


async def db_now(conn: AsyncConnection) -> datetime:
    """The database's time for this transaction (timezone-aware, the same on every call in it)."""
    value = (await conn.execute(_NOW)).scalar_one()
    assert isinstance(value, datetime) and value.tzinfo is not None
    return value
