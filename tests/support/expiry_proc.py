"""Runs the inventory claim-expiry job's rounds over a database until nothing is due, as its
own process, so a test can run two at once.

    python -m tests.support.expiry_proc <database url> <now, ISO 8601> <batch size> <start at>

``start at`` (a Unix time) lines several processes up so they really sweep at the same time.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime

from inventory.adapters import tables
from inventory.adapters.ledger import Ledger
from inventory.handlers import claim_expiry
from messaging.outbox import Outbox
from service_kit.db import make_engine


async def main(url: str, now: datetime, batch: int, start_at: float) -> None:
    engine = make_engine(url)
    async with engine.connect():  # connect before the barrier
        pass
    await asyncio.sleep(max(0.0, start_at - time.time()))
    ledger = Ledger(Outbox(tables.outbox, "/booking-platform/inventory"))
    items = claim_expiry.sweep(ledger, now)
    total = 0
    while True:
        async with engine.connect() as conn:
            if not await Ledger.due_for_expiry(conn, now, 1):
                break
        total += await claim_expiry.expire_once(engine, items, batch, now)
    await engine.dispose()
    print(f"expired {total}", flush=True)


if __name__ == "__main__":
    asyncio.run(
        main(sys.argv[1], datetime.fromisoformat(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    )
