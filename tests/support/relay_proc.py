"""A standalone outbox relay over a test database, run as its own process so tests can SIGKILL it.

python -m tests.support.relay_proc <postgres dsn> <bootstrap servers> [batch size]
"""

from __future__ import annotations

import asyncio
import signal
import sys

from messaging.kafka import reliable_producer
from messaging.relay import OutboxRelay, RelayConfig


async def main(dsn: str, bootstrap: str, batch_size: int) -> None:
    relay = OutboxRelay(
        dsn=dsn,
        producer_factory=lambda: reliable_producer(bootstrap, "test-relay"),
        config=RelayConfig(service="test", batch_size=batch_size, poll_interval_s=0.5),
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, relay.stop)
    print("relay started", flush=True)
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 500))
