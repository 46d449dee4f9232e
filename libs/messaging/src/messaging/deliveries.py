"""How many processes died while applying a record: the poison-message counter, kept in the
service's database so that it outlives the process it counts.

A record that kills its worker (a segfault in a library, an out-of-memory kill, a handler
that calls ``os._exit``) is never acked, so Kafka hands it to the next worker, which dies too.
Before a worker starts applying a record it notes the start here, in a statement of its own
(the record's effect, if it is ever applied, commits separately): per consumer group and
partition, the latest record's offset and how many processes began it. The records redelivered
before it after a crash (those since the last offset commit) leave the count alone. A record whose starts pass the bound is
dead-lettered instead of applied.

The note is one autocommit statement with asynchronous commit (``make_engine(...,
bookkeeping=True)``): one round trip per record that does not wait for the disk. Losing the
last notes in a crash of the database server costs a count, never data.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# One row per (topic, partition) of the batch, each with the first offset it begins there.
_BEGIN = text(
    """
    INSERT INTO consumer_deliveries AS d (consumer, topic, partition, "offset", starts)
    SELECT :consumer, s.topic, s.partition, s.o, 1
    FROM unnest(CAST(:topics AS text[]), CAST(:partitions AS int[]), CAST(:offsets AS bigint[]))
         AS s(topic, partition, o)
    ON CONFLICT (consumer, topic, partition) DO UPDATE
    SET starts = CASE WHEN EXCLUDED."offset" = d."offset" THEN d.starts + 1
                      WHEN EXCLUDED."offset" < d."offset" THEN d.starts
                      ELSE 1 END,
        "offset" = greatest(d."offset", EXCLUDED."offset"),
        updated_at = now()
    RETURNING topic, partition, starts, "offset"
    """
)


@dataclass
class Deliveries:
    engine: AsyncEngine  # autocommit, asynchronous commit (see the module docstring)
    consumer: str

    async def begin(self, topic: str, partition: int, offset: int) -> int:
        """Note that this process starts applying the record; how many processes have (0 for
        a record before the latest one noted: a later one began, so this one ended, and it is
        being delivered again after a crash, as the records since the last commit are)."""
        return (await self.begin_many([(topic, partition, offset)]))[(topic, partition)]

    async def begin_many(self, firsts: list[tuple[str, int, int]]) -> dict[tuple[str, int], int]:
        """:meth:`begin` for the first record of each partition of a batch, in one statement:
        per (topic, partition), the starts of the record at the offset given."""
        async with self.engine.begin() as conn:  # with autocommit, no BEGIN is sent
            rows = (
                await conn.execute(
                    _BEGIN,
                    {
                        "consumer": self.consumer,
                        "topics": [t for t, _, _ in firsts],
                        "partitions": [p for _, p, _ in firsts],
                        "offsets": [o for _, _, o in firsts],
                    },
                )
            ).all()
        offsets = {(t, p): o for t, p, o in firsts}
        return {
            (topic, partition): int(starts) if noted == offsets[(topic, partition)] else 0
            for topic, partition, starts, noted in rows
        }
