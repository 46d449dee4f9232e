"""How many processes died while applying a record: the poison-message counter, kept in the
service's database so that it outlives the process it counts.

A record that kills its worker (a segfault in a library, an out-of-memory kill, a handler
that calls ``os._exit``) is never acked, so Kafka hands it to the next worker, which dies too.
Before a worker starts applying such a record it notes the start here, in a short transaction
of its own; the record's effect, if it is ever applied, commits separately. A record whose
starts pass the bound is dead-lettered instead of applied.

Noting every record would cost a write per message. Only a record that a crash can have
interrupted needs one: after a process starts, each partition's records are noted until the
first one is applied; from then on the process itself has seen every record of that partition
end, and the next crash is counted from its restart (so a record that kills every worker is
counted on every delivery but its first, when it followed a record applied by that process).
The write is an asynchronous commit: losing it costs one count in a server crash, never data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_BEGIN = text(
    """
    INSERT INTO consumer_deliveries AS d (consumer, topic, partition, "offset", starts)
    VALUES (:consumer, :topic, :partition, :offset, 1)
    ON CONFLICT (consumer, topic, partition) DO UPDATE
    SET starts = CASE WHEN d."offset" = EXCLUDED."offset" THEN d.starts + 1 ELSE 1 END,
        "offset" = EXCLUDED."offset",
        updated_at = now()
    RETURNING starts
    """
)


@dataclass
class Deliveries:
    engine: AsyncEngine
    consumer: str
    # Partitions in which this process has applied a record (no crash of it can be pending).
    _settled: set[tuple[str, int]] = field(default_factory=set)

    def needs_note(self, topic: str, partition: int) -> bool:
        return (topic, partition) not in self._settled

    async def begin(self, topic: str, partition: int, offset: int) -> int:
        """Note that this process starts applying the record; how many processes have."""
        async with self.engine.begin() as conn:
            await conn.execute(text("SET LOCAL synchronous_commit = off"))
            starts = (
                await conn.execute(
                    _BEGIN,
                    {
                        "consumer": self.consumer,
                        "topic": topic,
                        "partition": partition,
                        "offset": offset,
                    },
                )
            ).scalar_one()
        return int(starts)

    def settled(self, topic: str, partition: int) -> None:
        """A record of this partition ended in this process (applied, duplicate or dead-lettered)."""
        self._settled.add((topic, partition))
