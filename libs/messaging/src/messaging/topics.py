"""``booking-topics``: create every declared topic (and its dead-letter twin) that does not exist
yet, on ``KAFKA_BOOTSTRAP_SERVERS``. Idempotent: the Helm hook Job, docker compose and operators
run it; existing topics are left as they are. With ``--acls``, also the services' ACLs
(messaging.acls), as a principal allowed to create them.

    booking-topics [--replication-factor 3] [--bootstrap host:9092,...]
                   [--acls [--principal booking=bp-booking ...]]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from contracts.topics import ALL_TOPICS
from messaging import acls, admin
from messaging.kafka import ensure_topics


async def apply_acls(bootstrap: str, principals: dict[str, str]) -> int:
    async with admin.admin(bootstrap) as client:
        return await acls.apply(client, acls.platform(principals))


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
    parser.add_argument("--acls", action="store_true", help="also create the services' ACLs")
    parser.add_argument(
        "--principal",
        action="append",
        default=[],
        metavar="SERVICE=PRINCIPAL",
        help="a service whose principal is not named after it",
    )
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
    if args.acls:
        principals = dict(p.split("=", 1) for p in args.principal)
        print(f"applied {asyncio.run(apply_acls(args.bootstrap, principals))} ACLs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
