"""Writing to the outbox: the only way a service emits a message.

``Outbox.add`` runs inside the caller's transaction, so the message exists if and only if the
state change that caused it committed. A ``NOTIFY`` in the same transaction wakes the relay the
moment the transaction commits (Postgres delivers notifications only on commit).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.base import ContractMessage
from contracts.topics import TopicSpec
from messaging import tracing
from messaging.tables import OUTBOX_CHANNEL


@dataclass(frozen=True)
class Outbox:
    table: Table
    source: str  # CloudEvents source of this service, e.g. "/booking-platform/inventory"

    async def add(
        self,
        conn: AsyncConnection,
        *,
        topic: TopicSpec,
        key: str,
        message: ContractMessage,
        subject: str | None = None,
        message_id: str | None = None,
    ) -> str:
        """Queue ``message`` for ``topic`` keyed by ``key``; returns its CloudEvents id."""
        mid = message_id or str(uuid.uuid4())
        row = (
            self.table.insert()
            .values(
                message_id=mid,
                topic=topic.name,
                key=key,
                ce_type=message.ce_type(),
                source=self.source,
                subject=subject or key,
                payload=message.model_dump_json(),
                traceparent=tracing.current_or_new(),
            )
            .returning(self.table.c.id)
            .cte("queued")
        )
        # One round trip: the insert and its wake-up call (Postgres folds repeated identical
        # notifications of one transaction into one, delivered at commit).
        await conn.execute(select(func.pg_notify(OUTBOX_CHANNEL, "")).select_from(row))
        return mid
