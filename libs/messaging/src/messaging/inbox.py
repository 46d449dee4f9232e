"""The inbox: a consumer applies each message once, however often Kafka delivers it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, delete, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from messaging.envelope import Envelope


@dataclass(frozen=True)
class Inbox:
    table: Table

    async def claim(self, conn: AsyncConnection, consumer: str, envelope: Envelope) -> bool:
        """Record the message for ``consumer``; False when it was already applied.

        Must run in the transaction that applies the effect: if that transaction rolls back,
        the claim goes with it and the redelivery is applied. A concurrent duplicate blocks on
        the primary key until the first commits, then sees the conflict.
        """
        stmt = (
            insert(self.table)
            .values(
                consumer=consumer,
                message_source=envelope.source,
                message_id=envelope.id,
                ce_type=envelope.type,
            )
            .on_conflict_do_nothing(index_elements=["consumer", "message_source", "message_id"])
            .returning(self.table.c.message_id)
        )
        result = await conn.execute(stmt)
        return result.first() is not None

    async def claim_many(
        self, conn: AsyncConnection, consumer: str, envelopes: list[Envelope]
    ) -> set[tuple[str, str]]:
        """:meth:`claim` for a batch, in one statement: the (source, id) pairs newly recorded
        (a message applied before, or a second copy within the batch, is not among them)."""
        distinct = list({(e.source, e.id): e.type for e in envelopes}.items())
        rows = await conn.execute(
            text(
                f"INSERT INTO {self.table.name} (consumer, message_source, message_id, ce_type) "
                "SELECT :consumer, s.source, s.id, s.type "
                "FROM unnest(CAST(:sources AS text[]), CAST(:ids AS text[]), "
                "CAST(:types AS text[])) AS s(source, id, type) "
                "ON CONFLICT (consumer, message_source, message_id) DO NOTHING "
                "RETURNING message_source, message_id"
            ),
            {
                "consumer": consumer,
                "sources": [source for (source, _), _ in distinct],
                "ids": [mid for (_, mid), _ in distinct],
                "types": [ce_type for _, ce_type in distinct],
            },
        )
        return {(source, mid) for source, mid in rows}

    async def purge(
        self, conn: AsyncConnection, older_than_seconds: float, limit: int = 10_000
    ) -> int:
        """Forget up to ``limit`` messages older than the retention."""
        cutoff = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than_seconds)
        oldest = (
            select(self.table.c.consumer, self.table.c.message_source, self.table.c.message_id)
            .where(self.table.c.received_at < cutoff)
            .limit(limit)
        )
        result = await conn.execute(
            delete(self.table).where(
                tuple_(
                    self.table.c.consumer, self.table.c.message_source, self.table.c.message_id
                ).in_(oldest)
            )
        )
        return result.rowcount or 0
