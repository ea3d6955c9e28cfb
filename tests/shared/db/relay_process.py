"""One outbox relay in a process of its own, as a replica runs it (see test_outbox.py).

    python -m tests.shared.db.relay_process DATABASE_URL SCHEMA BOOTSTRAP [--pause-at N ...]

Prints "running" once it starts its relay. After publishing its Nth batch, before marking
it, the relay prints "paused" and waits for SIGUSR1.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from shared.bus.kafka import KafkaBus
from shared.db.engine import Database
from shared.db.leadership import LeaseTiming
from shared.db.outbox import OutboxRelay
from shared.db.tables import outbox_table, service_metadata

BATCH = 10
TIMING = LeaseTiming(acquire_every=0.1, check_every=0.2, lease=1.5, stop_within=1.0)


async def main(url: str, schema: str, bootstrap: str, pauses: set[int]) -> None:
    db = Database(url, schema=schema, pool_size=3)
    bus = KafkaBus(bootstrap, client_id="hearth-test-relay")
    await bus.start()

    go_on = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, go_on.set)
    published = 0

    async def after_publish() -> None:
        nonlocal published
        published += 1
        if published in pauses:
            go_on.clear()
            print("paused", flush=True)
            await go_on.wait()

    relay = OutboxRelay(
        db,
        bus,
        outbox_table(service_metadata()),
        service="test",
        batch_size=BATCH,
        interval=0.05,
        after_publish=after_publish,
        leadership=TIMING,
    )
    print("running", flush=True)
    await relay.run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("schema")
    parser.add_argument("bootstrap")
    parser.add_argument("--pause-at", type=int, action="append", default=[])
    args = parser.parse_args()
    asyncio.run(main(args.url, args.schema, args.bootstrap, set(args.pause_at)))
