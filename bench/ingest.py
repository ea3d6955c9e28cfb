"""Ingest over HTTP: our Slack webhook and batch endpoints beside a bare FastAPI baseline, one run.

Both sides get the same request bytes from one httpx client with the same bounded
concurrency, and give the same Kafka guarantees (acks=all, idempotence, answer only after
the acks). The baseline is the least any correct endpoint does: verify the Slack signature
and validate the envelope, or validate the batch with `BatchIn`, then publish. Ours adds
what the service owes its users: binding lookup and secret decryption, API-key auth,
normalization into CommunityEvents, member resolution, dedup and the received-events
record in PostgreSQL. The ratio is the figure we track.

By default httpx calls both apps in-process through ASGITransport (lifespans running): on
two cores httpx's socket pool, not the server, caps a no-op endpoint at a few hundred
requests/s, which would hide most of the gap. `--transport uvicorn` serves both with
uvicorn on 127.0.0.1 instead. Needs KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL
(`make bench-ingest` starts the stack); ours runs on fresh PostgreSQL schemas, dropped at
the end, and publishes to the real community.events.v1 topic.

    python bench/ingest.py [--webhooks 3000] [--events 20000] [--batch 500] [--concurrency 16]
                           [--transport asgi|uvicorn]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from cryptography.fernet import Fernet
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text
from ulid import ULID

from services.ingest.app import SPEC as INGEST
from services.ingest.schemas import BatchIn
from shared.bus.kafka import KafkaBus
from shared.db.engine import Database
from shared.events.envelope import new_event_id
from shared.host import Host
from shared.tenancy.repository import create_key, create_tenant

SIGNING_SECRET = "bench-slack-signing-secret"
TEAM = "T0BENCH"
USERS = 200  # distinct authors, like bench/bus.py's member keys; warm-up meets each once
JSON = {"Content-Type": "application/json"}


@dataclass
class Result:
    """What one side measured on one endpoint."""

    name: str
    requests: int
    events: int
    seconds: float
    latencies_ms: list[float]

    @property
    def request_rate(self) -> float:
        return self.requests / self.seconds

    @property
    def event_rate(self) -> float:
        return self.events / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)]

    def line(self) -> str:
        return (
            f"{self.name:<24}{self.request_rate:>9,.0f}{self.event_rate:>10,.0f}"
            f"{self.percentile(0.5):>9.1f}{self.percentile(0.99):>9.1f}"
            f"{self.requests:>10}{self.seconds:>8.2f}"
        )


HEADER = f"{'':<24}{'req/s':>9}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'s':>8}"


def ratio(ours: Result, baseline: Result) -> str:
    return (
        f"throughput {ours.event_rate / baseline.event_rate:.2f}x, "
        f"p50 latency {ours.percentile(0.5) / baseline.percentile(0.5):.2f}x, "
        f"p99 latency {ours.percentile(0.99) / baseline.percentile(0.99):.2f}x"
    )


# ----------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Call:
    """One request to send: its body and how many events it carries."""

    body: bytes
    events: int


def slack_messages(count: int, prefix: str) -> list[Call]:
    """Distinct Slack `message` event_callbacks (own event_id and ts), over USERS authors."""
    start_us = time.time_ns() // 1000 - 3600 * 1_000_000  # an hour ago, one µs apart
    calls = []
    for n in range(count):
        ts = f"{(start_us + n) // 1_000_000}.{(start_us + n) % 1_000_000:06d}"
        body = {
            "token": "unused",
            "team_id": TEAM,
            "api_app_id": "A0BENCH",
            "type": "event_callback",
            "event_id": f"Ev{prefix}{n:08d}",
            "event_time": (start_us + n) // 1_000_000,
            "event": {
                "type": "message",
                "client_msg_id": f"{prefix}-{n}",
                "text": f"hello community {n} " * 4,
                "user": f"U{n % USERS:05d}",
                "ts": ts,
                "team": TEAM,
                "channel": "C0GENERAL",
                "event_ts": ts,
                "channel_type": "channel",
            },
        }
        calls.append(Call(json.dumps(body).encode(), 1))
    return calls


def event_batches(community_id: str, count: int, batch: int, prefix: str) -> list[Call]:
    """Integrator batches of community.message.created, each event its own source_event_id."""
    events = [
        {
            "type": "community.message.created",
            "community_id": community_id,
            "platform": "api",
            "occurred_at": "2026-01-15T10:00:00Z",
            "source_event_id": f"{prefix}-{n}",
            "channel_id": "general",
            "actor": {"platform_user_id": f"user-{n % USERS}", "username": f"user{n % USERS}"},
            "content": {"text": f"hello community {n} " * 4},
        }
        for n in range(count)
    ]
    return [
        Call(json.dumps({"events": events[i : i + batch]}).encode(), len(events[i : i + batch]))
        for i in range(0, count, batch)
    ]


def slack_signed(body: bytes) -> dict[str, str]:
    """Headers Slack sends: v0 HMAC of `v0:{timestamp}:{body}`, signed now."""
    timestamp = str(int(time.time()))
    base = f"v0:{timestamp}:".encode() + body
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {**JSON, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


Check = Callable[[httpx.Response, Call], None]
Headers = Callable[[bytes], dict[str, str]]


def answered_ok(response: httpx.Response, _call: Call) -> None:
    if response.status_code != 200:
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text[:300]}")


def all_accepted(response: httpx.Response, call: Call) -> None:
    """Our endpoints answer which events were accepted; every one must be new."""
    answered_ok(response, call)
    body = response.json()
    accepted = (
        body["accepted"]
        if "accepted" in body
        else sum(item["status"] == "accepted" for item in body["items"])
    )
    if accepted != call.events:
        raise SystemExit(f"{response.request.url}: {accepted} of {call.events} accepted: {body}")


async def drive(
    client: httpx.AsyncClient,
    name: str,
    path: str,
    calls: Sequence[Call],
    *,
    headers: Headers,
    check: Check,
    concurrency: int,
) -> Result:
    """Send every call with at most `concurrency` in flight; time each and the whole run."""
    pending = iter(calls)
    latencies: list[float] = []

    async def worker() -> None:
        for call in pending:
            call_headers = headers(call.body)  # signed as it leaves, like Slack does
            sent = time.perf_counter()
            response = await client.post(path, content=call.body, headers=call_headers)
            latencies.append((time.perf_counter() - sent) * 1000)
            check(response, call)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return Result(name, len(calls), sum(c.events for c in calls), elapsed, latencies)


# ----------------------------------------------------------------------------- the baseline


class SlackMessage(BaseModel):
    """The fields of a Slack `message` event any consumer of it needs."""

    type: Literal["message"]
    user: str = Field(min_length=1)
    text: str
    ts: str = Field(min_length=1)
    channel: str = Field(min_length=1)


class SlackEnvelope(BaseModel):
    """A Slack Events API `event_callback` carrying a message."""

    type: Literal["event_callback"]
    team_id: str = Field(min_length=1)
    event_id: str = Field(min_length=1)
    event_time: int
    event: SlackMessage


def baseline_app(bootstrap: str, slack_topic: str, events_topic: str) -> FastAPI:
    """Verify or validate, publish with a raw acks=all idempotent producer, answer once acked."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    verifier = SignatureVerifier(SIGNING_SECRET)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await producer.start()
        try:
            yield
        finally:
            await producer.stop()

    app = FastAPI(lifespan=lifespan)

    @app.post("/slack")
    async def slack(request: Request) -> JSONResponse:
        body = await request.body()
        if not verifier.is_valid(
            body,
            request.headers.get("x-slack-request-timestamp", ""),
            request.headers.get("x-slack-signature", ""),
        ):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        try:
            envelope = SlackEnvelope.model_validate_json(body)
        except ValidationError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        key = f"{envelope.team_id}:{envelope.event.user}".encode()
        await (await producer.send(slack_topic, body, key=key))
        return JSONResponse({"accepted": 1})

    @app.post("/events")
    async def events(request: Request) -> JSONResponse:
        try:
            batch = BatchIn.model_validate_json(await request.body())
        except ValidationError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        futures = [
            await producer.send(
                events_topic,
                event.model_dump_json().encode(),
                key=f"{event.community_id}:{event.actor.platform_user_id}".encode(),
            )
            for event in batch.events
        ]
        await asyncio.gather(*futures)
        return JSONResponse({"accepted": len(futures)})

    return app


# ----------------------------------------------------------------------------- serving


def served(
    app: FastAPI, args: argparse.Namespace
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """A client for `app` over the transport asked for, with the app's lifespan running."""
    if args.transport == "uvicorn":
        return over_uvicorn(app, args.concurrency)
    return in_process(app)


@asynccontextmanager
async def in_process(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Call the ASGI app directly: no sockets, no HTTP parsing, the least harness overhead."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=60
        ) as client,
    ):
        yield client


@asynccontextmanager
async def over_uvicorn(app: FastAPI, concurrency: int) -> AsyncIterator[httpx.AsyncClient]:
    """Serve `app` (lifespan included) with uvicorn on a free 127.0.0.1 port; a client for it."""
    # proto must say TCP: asyncio sets TCP_NODELAY only on such sockets, and without it
    # Nagle and delayed ACKs add ~40 ms to every response uvicorn writes in two parts
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_config=None, access_log=False, backlog=256)
    )
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if serving.done():
            serving.result()  # raises why startup failed
            raise SystemExit("uvicorn exited during startup")
        await asyncio.sleep(0.05)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60, trust_env=False
    )
    try:
        yield client
    finally:
        await client.aclose()
        server.should_exit = True
        await serving
        listener.close()


async def measure(
    client: httpx.AsyncClient,
    side: str,
    paths: tuple[str, str],
    *,
    community_id: str,
    api_key: str | None,
    check: Check,
    args: argparse.Namespace,
) -> tuple[Result, Result]:
    """Warm up (every author once), then time the webhooks, then the batches."""
    slack_path, events_path = paths
    auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def batch_headers(_body: bytes) -> dict[str, str]:
        return {**JSON, **auth}

    async def run(name: str, path: str, calls: Sequence[Call], headers: Headers) -> Result:
        return await drive(
            client, name, path, calls, headers=headers, check=check, concurrency=args.concurrency
        )

    await run("warm-up", slack_path, slack_messages(USERS, "warm"), slack_signed)
    await run(
        "warm-up", events_path, event_batches(community_id, USERS, USERS, "warm"), batch_headers
    )
    slack = await run(
        f"{side} slack webhook", slack_path, slack_messages(args.webhooks, "run"), slack_signed
    )
    batches = event_batches(community_id, args.events, args.batch, "run")
    batch = await run(f"{side} batch of {args.batch}", events_path, batches, batch_headers)
    return slack, batch


async def run_baseline(args: argparse.Namespace, bootstrap: str) -> tuple[Result, Result]:
    suffix = str(ULID()).lower()
    topics = [f"bench-ingest-slack-{suffix}", f"bench-ingest-events-{suffix}"]
    await KafkaBus(bootstrap, client_id="bench-setup").ensure_topics(topics)
    try:
        async with served(baseline_app(bootstrap, *topics), args) as client:
            return await measure(
                client,
                "baseline",
                ("/slack", "/events"),
                community_id=new_event_id(),  # the same shape as ours, so the same bytes
                api_key=None,
                check=answered_ok,
                args=args,
            )
    finally:
        await delete_topics(bootstrap, topics)


async def run_ours(args: argparse.Namespace, bootstrap: str, url: str) -> tuple[Result, Result]:
    suffix = str(ULID()).lower()
    # as `hearth serve ingest` builds it (services/embedded.py), on fresh schemas
    db = Database(url, schema=f"bench_ingest_{suffix}")
    tenancy = Database(url, schema=f"bench_hearth_{suffix}", pool_size=2)
    bus = KafkaBus(bootstrap, client_id="bench-ingest")
    host = Host([(INGEST, db)], bus=bus, tenancy_db=tenancy, title="Hearth ingest")
    try:
        async with served(host.create_app(), args) as client:
            tenant = f"t{suffix}"
            await create_tenant(tenancy, tenant, "Bench tenant")
            admin = await create_key(tenancy, tenant_id=tenant, name="admin", scopes=["admin"])
            writer = await create_key(
                tenancy, tenant_id=tenant, name="bench", scopes=["events:write"]
            )
            community_id, webhook_path = await slack_binding(client, admin)
            return await measure(
                client,
                "hearth",
                (webhook_path, "/v1/ingest/events"),
                community_id=community_id,
                api_key=writer,
                check=all_accepted,
                args=args,
            )
    finally:
        for database in (db, tenancy):
            await drop_schema(database)
            await database.dispose()


async def slack_binding(client: httpx.AsyncClient, admin_key: str) -> tuple[str, str]:
    """A community with a Slack workspace bound to it: (community id, webhook path)."""
    auth = {"Authorization": f"Bearer {admin_key}"}
    answer = await client.post(
        "/v1/ingest/communities", json={"name": "Bench", "time_zone": "UTC"}, headers=auth
    )
    answer.raise_for_status()
    community_id = str(answer.json()["id"])
    answer = await client.post(
        f"/v1/ingest/communities/{community_id}/bindings",
        json={
            "platform": "slack",
            "external_id": TEAM,
            "secrets": {"signing_secret": SIGNING_SECRET},
        },
        headers=auth,
    )
    answer.raise_for_status()
    return community_id, str(answer.json()["webhook_path"])


async def drop_schema(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE'))


async def delete_topics(bootstrap: str, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-setup-admin")
    await admin.start()
    try:
        await admin.delete_topics(topics)
    finally:
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--webhooks", type=int, default=3_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--transport",
        choices=["asgi", "uvicorn"],
        default="asgi",
        help="asgi: httpx calls the apps in-process; uvicorn: real sockets on 127.0.0.1",
    )
    args = parser.parse_args()
    bootstrap, url = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("DATABASE_URL")
    if not bootstrap or not url:
        raise SystemExit(
            "set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL "
            '(eval "$(deploy/local/stack env)") or run `make bench-ingest`'
        )
    logging.basicConfig(level=logging.WARNING)
    os.environ["HEARTH_INGEST_SECRETS_KEY"] = Fernet.generate_key().decode()
    base_slack, base_batch = await run_baseline(args, bootstrap)
    slack, batch = await run_ours(args, bootstrap, url)
    served_by = "uvicorn on 127.0.0.1" if args.transport == "uvicorn" else "in-process ASGI"
    print(
        f"ingest over HTTP ({served_by}, httpx, {args.concurrency} in flight), "
        f"Kafka at {bootstrap} (acks=all), PostgreSQL for ours"
    )
    print(HEADER)
    for result in (base_slack, slack, base_batch, batch):
        print(result.line())
    print(f"ratio hearth/baseline, slack webhooks: {ratio(slack, base_slack)}")
    print(f"ratio hearth/baseline, batch events:   {ratio(batch, base_batch)}")


if __name__ == "__main__":
    asyncio.run(main())
