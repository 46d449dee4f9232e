"""``booking-topics``: create every declared topic (and its dead-letter twin) that does not exist
yet, on ``KAFKA_BOOTSTRAP_SERVERS``. Idempotent: the Helm hook Job, docker compose and operators
run it; existing topics are left as they are.

    booking-topics [--replication-factor 3] [--bootstrap host:9092,...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from contracts.topics import ALL_TOPICS
from messaging.kafka import ensure_topics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="booking-topics", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1")),
    )
    parser.add_argument("--timeout-s", type=float, default=120.0)
    args = parser.parse_args(argv)
    created = asyncio.run(
        ensure_topics(
            args.bootstrap,
            ALL_TOPICS,
            replication_factor=args.replication_factor,
            timeout_s=args.timeout_s,
        )
    )
    existing = len(ALL_TOPICS) - len(created)
    print(f"created {len(created)} topics ({', '.join(created) or 'none'}); {existing} existed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
