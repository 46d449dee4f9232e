"""``python -m analytics worker | report [--resource ID] | replay --from-beginning |
replay --from-time ISO | rebuild``.

* ``worker``: run the consumer (faust worker).
* ``report``: print the figures as JSON.
* ``replay``: with the worker stopped, move the consumer group's offsets back (to the start of
  the topic, or to the first offset at or after a time). The worker then reads those events
  again; the ones already counted are recognised by id and change nothing. Use it after a bug
  that skipped events.
* ``rebuild``: with the worker stopped, wipe the figures and the ids seen, and move the offsets to
  the beginning: the worker computes everything again (after a change in how figures are made).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from analytics import connect, store
from contracts.topics import BOOKING_EVENTS


async def move_offsets(bootstrap: str, group: str, since: datetime | None) -> dict[int, int]:
    """Commit, for ``group``, the earliest offset (or the first at/after ``since``) of every
    partition of booking.events. The group must have no running member."""
    consumer = AIOKafkaConsumer(
        **{**connect.aiokafka_kwargs(), "bootstrap_servers": bootstrap},
        group_id=group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = [
            TopicPartition(BOOKING_EVENTS.name, p)
            for p in sorted(
                consumer.partitions_for_topic(BOOKING_EVENTS.name)
                or range(BOOKING_EVENTS.partitions)
            )
        ]
        consumer.assign(tps)
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        target = dict(starts)
        if since is not None:
            found = await consumer.offsets_for_times(
                {tp: int(since.timestamp() * 1000) for tp in tps}
            )
            target = {tp: (found[tp].offset if found.get(tp) else ends[tp]) for tp in tps}
        await consumer.commit({tp: OffsetAndMetadata(off, "replay") for tp, off in target.items()})
        return {tp.partition: off for tp, off in target.items()}
    finally:
        await consumer.stop()


async def _report(resource: str | None) -> None:
    conn = await asyncpg.connect(os.environ["ANALYTICS_DATABASE_URL"])
    try:
        await store.create_schema(conn)
        figures = await store.report(conn, resource)
        overall = await store.conversion(conn)
    finally:
        await conn.close()
    print(json.dumps({"conversion": overall, "days": figures}, default=str, indent=2))


async def _rebuild(bootstrap: str, group: str) -> None:
    conn = await asyncpg.connect(os.environ["ANALYTICS_DATABASE_URL"])
    try:
        await store.create_schema(conn)
        await store.wipe(conn)
    finally:
        await conn.close()
    print(json.dumps(await move_offsets(bootstrap, group, None)))


def main(argv: list[str] | None = None) -> int:
    from analytics.app import GROUP, app
    from analytics.connect import BOOTSTRAP

    parser = argparse.ArgumentParser(prog="analytics", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("worker")
    report = sub.add_parser("report")
    report.add_argument("--resource")
    replay = sub.add_parser("replay")
    where = replay.add_mutually_exclusive_group(required=True)
    where.add_argument("--from-beginning", action="store_true")
    where.add_argument("--from-time", type=datetime.fromisoformat)
    sub.add_parser("rebuild")
    args = parser.parse_args(argv)
    if args.command == "worker":
        import faust

        faust.Worker(app, loglevel="info", quiet=True).execute_from_commandline()
    elif args.command == "report":
        asyncio.run(_report(args.resource))
    elif args.command == "replay":
        since = None if args.from_beginning else args.from_time
        print(json.dumps(asyncio.run(move_offsets(BOOTSTRAP, GROUP, since))))
    elif args.command == "rebuild":
        asyncio.run(_rebuild(BOOTSTRAP, GROUP))
    return 0


if __name__ == "__main__":
    sys.exit(main())
