"""Per-guest quotas: how many of something (holds, unpaid bookings, waitlist entries) one guest
may have at once. Staff are not limited. The count and the caller's new row are serialised per
guest and quota by a transaction-scoped advisory lock, so concurrent requests of one guest
cannot pass the quota together; other guests are not held up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service_kit.auth import Principal
from service_kit.problems import Problem


@dataclass(frozen=True)
class GuestQuota:
    name: str  # also the problem type: <name>-quota-exceeded
    limit: int
    count_sql: str  # counts the guest's live rows; binds :tenant and :guest (and ``params``)
    what: str  # "live holds", for the problem's detail
    remedy: str = ""

    async def enforce(
        self, conn: AsyncConnection, who: Principal, guest: str, **params: Any
    ) -> None:
        """409 ``<name>-quota-exceeded`` when ``guest`` already has ``limit``; call inside the
        transaction that writes the new row."""
        if who.is_staff:
            return
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"quota:{self.name}:{who.tenant}:{guest}"},
        )
        count = (
            await conn.execute(
                text(self.count_sql), {"tenant": who.tenant, "guest": guest, **params}
            )
        ).scalar_one()
        if count >= self.limit:
            raise Problem(
                409,
                f"{self.name}-quota-exceeded",
                "Quota exceeded",
                f"A guest may have at most {self.limit} {self.what} at once. {self.remedy}".strip(),
                limit=self.limit,
            )
