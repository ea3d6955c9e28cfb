"""Insights: messages per second through detection, embedding and clustering; p99 event ->
cluster on the real broker; resident memory with the models loaded.

Throughput (`--part throughput`, in one process, no I/O): mixed traffic (by default 80%
chatter in English and Russian, 20% feedback: BANKING77 *train* queries and the intent
training texts) goes through what the consumer does per message: embed, classify intent
and sentiment, and for feedback the online clustering of its community (nearest centroid,
near-identical fingerprints). Ours embeds a consumer batch at once (the unit of work's
`prepare`); the baseline in the same run is the same pipeline one message at a time (how
the handler embedded before), and for reference the encoder alone in batches.

Latency (`--part latency`, Kafka + PostgreSQL): a host running the insights service on a
throwaway schema; events are published to community.events.v1 at `--rate` per second;
the time from publish to the message's cluster row being visible in PostgreSQL is taken
by polling every 20 ms. Beside it, in the same run, the broker's own produce -> consume
latency for the same events (a plain consumer group on the topic).

    .venv/bin/python bench/insights.py --part throughput --messages 10000 --batch 256
    KAFKA_BOOTSTRAP_SERVERS=... DATABASE_URL=... .venv/bin/python bench/insights.py \
        --part latency --events 300 --rate 20

Memory (printed by both): VmRSS after the models are loaded and used, beside VmRSS
before they were loaded (the interpreter with the kit imported).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from ulid import ULID

ROOT = Path(__file__).resolve().parents[1]
BANKING_TRAIN = ROOT.parent / "shared" / "datasets" / "banking77" / "train.csv"
INTENT_TRAIN = ROOT / "services" / "insights" / "intents" / "train.json"

CHAT_EN = ["good morning", "gg wp", "see you at the stream", "lol", "who is online", "nice one"]
CHAT_EN += ["brb", "anyone up for a match", "thanks all", "hello everyone", "haha true"]
CHAT_RU = ["всем привет", "доброе утро", "кто в игре", "спасибо всем", "до вечера"]
CHAT_RU += ["идём играть", "кто на стриме", "ну ты даёшь", "всем пока"]
NAMES = ["ann", "boris", "cyd", "dan", "eve", "фёдор", "маша", "олег"]


def rss_mib() -> float:
    """This process's resident memory in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def feedback_texts() -> list[str]:
    with BANKING_TRAIN.open(newline="") as f:
        banking = [row["text"] for row in csv.DictReader(f)]
    trained = [item["text"] for item in json.loads(INTENT_TRAIN.read_text())["examples"]]
    return banking + trained


def traffic(count: int, share: float, seed: int = 7) -> list[tuple[str, str]]:
    """(community, text) pairs: `share` of them feedback, the rest chatter, all distinct-ish."""
    rng = random.Random(seed)
    feedback = feedback_texts()
    out = []
    for n in range(count):
        community = f"c{rng.randrange(8)}"
        if rng.random() < share:
            out.append((community, rng.choice(feedback)))
        else:
            words = CHAT_EN if rng.random() < 0.6 else CHAT_RU
            out.append((community, f"{rng.choice(words)} {rng.choice(NAMES)} {n % 97}"))
    return out


def pipeline(messages: list[tuple[str, str]], batch: int) -> tuple[float, int]:
    """Seconds for embed + intent + sentiment + online clustering; feedback messages found."""
    from services.insights.domain.clustering import OnlineClusterer, blended_centre
    from services.insights.domain.intents import Intent
    from services.insights.domain.text import fingerprint
    from services.insights.embedding import DIMENSIONS, encode
    from services.insights.intents import load_model
    from services.insights.sentiment import load_model as load_sentiment

    intents, sentiments = load_model(), load_sentiment()
    prior = intents.centre.astype(np.float32)
    clusterers: dict[str, OnlineClusterer] = {}
    totals: dict[str, tuple[np.ndarray, int]] = {}
    found = 0
    started = time.perf_counter()
    for first in range(0, len(messages), batch):
        chunk = messages[first : first + batch]
        vectors = encode([text for _, text in chunk])
        labels = intents.predict(vectors)
        sentiments.predict(vectors)
        for (community, text), vector, intent in zip(chunk, vectors, labels, strict=True):
            if intent is Intent.OTHER:
                continue
            found += 1
            total, count = totals.get(community, (np.zeros(DIMENSIONS, dtype=np.float32), 0))
            centre = blended_centre(prior, total, count).astype(np.float32)
            clusterer = clusterers.setdefault(
                community, OnlineClusterer(new_id=lambda: str(ULID()), centre=centre)
            )
            clusterer.centre = centre
            clusterer.assign(vector, fingerprint=fingerprint(text))
            totals[community] = (total + vector, count + 1)
    return time.perf_counter() - started, found


def throughput(args: argparse.Namespace) -> None:
    before = rss_mib()
    from services.insights.embedding import encode

    messages = traffic(args.messages, args.feedback_share)
    encode(["warm up"])  # load the weights outside the timings
    ours, found = pipeline(messages, args.batch)
    one = messages[: max(args.messages // 10, 200)]
    single, _ = pipeline(one, 1)
    started = time.perf_counter()
    for first in range(0, len(messages), args.batch):
        encode([text for _, text in messages[first : first + args.batch]])
    encoder = time.perf_counter() - started
    n = len(messages)
    print(f"messages: {n:,}, feedback found: {found:,} ({found / n:.0%}), batch {args.batch}")
    print(f"ours (batched pipeline):        {n / ours:8,.0f} messages/s")
    print(f"baseline (one at a time):       {len(one) / single:8,.0f} messages/s")
    print(f"reference (encoder alone):      {n / encoder:8,.0f} messages/s")
    print(f"ratio ours / one at a time:     {(n / ours) / (len(one) / single):8.1f}x")
    print(f"RSS: {rss_mib():.0f} MiB with the models loaded and used ({before:.0f} MiB before)")


async def latency(args: argparse.Namespace) -> None:
    from services.insights.app import SPEC as INSIGHTS
    from services.insights.embedding import encode_async
    from services.insights.tables import cluster_members
    from shared.bus.kafka import KafkaBus
    from shared.db.engine import Database
    from shared.events.community import Actor, CommunityEvent, CommunityEventType, Content
    from shared.events.topics import COMMUNITY_EVENTS
    from shared.host import Host

    if str(ROOT) not in sys.path:  # tests.conftest for skip_kafka_history
        sys.path.insert(0, str(ROOT))
    from shared.bus.port import publish
    from shared.events.envelope import utcnow
    from tests.conftest import skip_kafka_history

    before = rss_mib()
    url, bootstrap = os.environ["DATABASE_URL"], os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    suffix = str(ULID()).lower()
    db = Database(url, schema=f"insights_bench_{suffix}", pool_size=4)
    tenancy = Database(url, schema=f"hearth_bench_{suffix}", pool_size=1)
    bus = KafkaBus(bootstrap, client_id="insights-bench")
    host = Host([(INSIGHTS, db)], bus=bus, tenancy_db=tenancy, group_prefix=f"bench{suffix}")
    host.create_app()
    await encode_async(["warm up"])
    await skip_kafka_history(host)
    await host.start()
    raw = bus.consumer([COMMUNITY_EVENTS.name], f"bench-raw-{suffix}")
    await raw.start()
    sent: dict[str, float] = {}
    consumed: dict[str, float] = {}
    clustered: dict[str, float] = {}
    feedback = feedback_texts()
    rng = random.Random(3)
    tenant = f"bench{suffix}"

    async def read_raw() -> None:
        while len(consumed) < args.events:
            for record in await raw.fetch(500, 0.2):
                for name, value in record.headers:
                    if name == "ce_id" and value.decode() in sent:
                        consumed.setdefault(value.decode(), time.monotonic())

    async def watch() -> None:
        from sqlalchemy import select

        while len(clustered) < args.events:
            async with db.transaction() as session:
                ids = (
                    await session.execute(
                        select(cluster_members.c.event_id).where(
                            cluster_members.c.tenant_id == tenant
                        )
                    )
                ).scalars()
                now = time.monotonic()
                for event_id in ids:
                    clustered.setdefault(event_id, now)
            await asyncio.sleep(0.02)

    readers = [asyncio.create_task(read_raw()), asyncio.create_task(watch())]
    try:
        for n in range(args.events):
            event = CommunityEvent(
                type=CommunityEventType.FEEDBACK_SUBMITTED,
                occurred_at=utcnow(),
                tenant_id=tenant,
                community_id="c1",
                platform="api",
                actor=Actor(platform_user_id=f"u{n % 50}"),
                content=Content(text=rng.choice(feedback)),
                dedup_key=f"bench-{suffix}-{n}",
            )
            envelope = event.to_envelope()
            sent[envelope.id] = time.monotonic()
            await publish(bus, COMMUNITY_EVENTS.name, envelope)
            await asyncio.sleep(1 / args.rate)
        try:
            await asyncio.wait_for(asyncio.gather(*readers), timeout=args.timeout)
        except TimeoutError:
            print(f"timed out after {args.timeout:g}s: figures below cover what arrived")
    finally:
        for task in readers:
            task.cancel()
        await raw.stop()
        await host.stop()
        async with db.engine.begin() as connection:
            from sqlalchemy import text

            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE'))
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{tenancy.schema}" CASCADE'))
        await db.dispose()
        await tenancy.dispose()

    def p(values: list[float], q: int) -> float:
        if not values:
            return float("nan")
        return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]

    ours = [clustered[i] - sent[i] for i in sent if i in clustered]
    broker = [consumed[i] - sent[i] for i in sent if i in consumed]
    print(
        f"events: {args.events} at {args.rate}/s; clustered {len(ours)}, consumed raw {len(broker)}"
    )
    for name, values in (
        ("ours (publish -> cluster row)", ours),
        ("baseline (produce -> consume)", broker),
    ):
        p50, p99 = p(values, 50) * 1000, p(values, 99) * 1000
        print(f"{name:31} p50 {p50:7.0f} ms  p99 {p99:7.0f} ms")
    print(f"RSS: {rss_mib():.0f} MiB with the host and models running ({before:.0f} MiB before)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["throughput", "latency"], default="throughput")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--feedback-share", type=float, default=0.2)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    if args.part == "throughput":
        throughput(args)
    else:
        asyncio.run(latency(args))


if __name__ == "__main__":
    main()
