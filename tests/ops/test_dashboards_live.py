"""Every dashboard query works on real data: PromQL through a real Prometheus scraping the
four services in distributed mode (Kafka + PostgreSQL) while events flow, SQL on the
services' PostgreSQL. Grafana itself cannot be installed here; this is what it would run.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml

from tests.conftest import IN_CI
from tests.ops.deployment import SERVICES, Deployment, deployment, fresh_database
from tests.ops.panels import ROOT, Query, expand_macros, queries, variables
from tests.stack import free_port, own_broker

# Four services, a broker and Prometheus start on a shared 2-core machine: slow, not stuck.
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(900)]

DEADLINE_SECONDS = 150


def prometheus_binary() -> str:
    found = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(found).exists():
        if IN_CI:
            pytest.fail("prometheus is not installed; `make test` installs it", pytrace=False)
        pytest.skip("prometheus is not installed (make test installs it)")
    return found


@pytest.fixture(scope="module")
def running(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[tuple[Deployment, str]]:
    """The services on a broker of their own (`hearth serve` joins the `hearth-*` groups,
    which on the shared broker would take other tests' events) and a fresh database."""
    folder = tmp_path_factory.mktemp("ops")
    (folder / "logs").mkdir()
    with (
        own_broker(folder / "stack") as broker,
        fresh_database(postgres_url) as database_url,
        deployment(database_url, broker.bootstrap, folder / "logs") as services,
    ):
        yield services, database_url


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, running: tuple[Deployment, str]
) -> Iterator[str]:
    """Prometheus with the compose config and alert rules, its targets moved to our ports."""
    services, _ = running
    folder = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(ROOT / "deploy/prometheus/alerts.yml")]
    hearth_job = next(job for job in config["scrape_configs"] if job["job_name"] == "hearth")
    hearth_job["static_configs"] = [
        {"targets": [f"127.0.0.1:{services.ports[s]}" for s in SERVICES]}
    ]
    port = free_port()
    config["scrape_configs"] = [hearth_job]
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [
            prometheus_binary(),
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "prometheus.log").open("wb"),
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


# Every feedback cluster goes to the product team's webhook as soon as it forms.
ROUTING = """
destinations:
  product-hook: {{url: "{url}", format: json, secret: a-test-signing-key-0123456789}}
rules:
  - {{name: every-cluster, team: product, trigger: size, min_size: 1, delivery: instant,
     to: [product-hook]}}
"""


# Shouting waits for a moderator, a scam is removed and earns its author a warning.
MODERATION_RULES = """
rules:
  - {id: shouting, kind: caps, max_ratio: 0.8, min_letters: 16, action: flag, reason: shouting}
  - {id: scam, kind: keywords, words: ["free nitro"], action: remove, reason: scam}
classifier: {enabled: false}
sanctions:
  ladder:
    - {strikes: 1, action: warn}
"""


GAMIFICATION_RULES = """
rules:
  - {id: message, event: community.message.created, points: 10}
badges:
  - {id: first-words, kind: first}
"""


class Receiver(BaseHTTPRequestHandler):
    """The product team's webhook: accepts every delivery."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def send_traffic(services: Deployment) -> None:
    """A small community's day on two channels, with history from two weeks ago, a flagged
    message a moderator allows, spam the rules remove, joins, and feedback to cluster."""
    key = services.run("admin", "bootstrap", "--tenant", "ops").stdout.strip()
    auth = {"Authorization": f"Bearer {key}"}
    ingest = services.url("ingest")
    community = httpx.post(
        f"{ingest}/v1/ingest/communities", json={"name": "Ops"}, headers=auth, timeout=30
    )
    assert community.status_code in (200, 201), community.text
    community_id = community.json()["id"]
    routing = httpx.put(
        f"{services.url('insights')}/v1/insights/communities/{community_id}/routing",
        content=ROUTING.format(url=services.receiver),
        headers={**auth, "Content-Type": "application/yaml"},
        timeout=30,
    )
    assert routing.status_code == 200, routing.text
    rules = httpx.put(
        f"{services.url('moderation')}/v1/moderation/communities/{community_id}/rules",
        content=MODERATION_RULES,
        headers={**auth, "Content-Type": "application/yaml"},
        timeout=30,
    )
    assert rules.status_code == 200, rules.text
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = []

    def event(kind: str, user: str, at: datetime, text: str | None = None, **extra: Any) -> None:
        events.append(
            {
                "type": kind,
                "community_id": community_id,
                "occurred_at": at.isoformat(),
                "source_event_id": f"ops-{len(events)}",
                "channel_id": extra.pop("channel", "general"),
                "actor": {"platform_user_id": user, "username": user},
                **({"content": {"text": text}} if text else {}),
                **extra,
            }
        )

    members = ["ann", "boris", "chen", "dana"]
    for i, user in enumerate(members[:3]):
        event(
            "community.message.created",
            user,
            now - timedelta(days=14, minutes=i),
            "hello everyone, glad to be here",
            backfilled=True,
        )
    for user in members:
        event("community.member.joined", user, now - timedelta(hours=3))
    for i, user in enumerate(members):
        event(
            "community.message.created",
            user,
            now - timedelta(minutes=30 - i),
            "the new release works great for me",
            channel="releases",
        )
    event(
        "community.message.created",
        "boris",
        now - timedelta(minutes=20),
        "The app crashes every time I open the settings page",
    )
    event(
        "community.message.created",
        "chen",
        now - timedelta(minutes=19),
        "Please add a dark mode to the mobile app",
    )
    event(
        "community.feedback.submitted",
        "dana",
        now - timedelta(minutes=18),
        "Export to CSV would save me hours every week",
    )
    event(
        "community.message.created",
        "ann",
        now - timedelta(minutes=10),
        "THIS UPDATE IS ABSOLUTELY TERRIBLE AND NOBODY LISTENS",
    )
    event(
        "community.message.created",
        "eve",
        now - timedelta(minutes=5),
        "free nitro giveaway!!! claim your free nitro at discord-gift.example",
    )
    event("community.member.left", "eve", now - timedelta(minutes=1))
    sent = httpx.post(
        f"{ingest}/v1/ingest/events", json={"events": events}, headers=auth, timeout=60
    )
    assert sent.status_code == 200, sent.text

    moderation = services.url("moderation")
    deadline = time.monotonic() + DEADLINE_SECONDS
    queued: list[dict[str, Any]] = []
    while not queued and time.monotonic() < deadline:
        queued = httpx.get(
            f"{moderation}/v1/moderation/queue",
            params={"community_id": community_id},
            headers=auth,
            timeout=10,
        ).json()["items"]
        time.sleep(0.5)
    assert queued, "the shouting message never reached the review queue"
    decision = queued[0]["decision_id"]
    claimed = httpx.post(f"{moderation}/v1/moderation/queue/{decision}/claim", headers=auth)
    assert claimed.status_code == 200, claimed.text
    decided = httpx.post(
        f"{moderation}/v1/moderation/queue/{decision}/decide",
        json={"verdict": "allow"},
        headers=auth,
    )
    assert decided.status_code == 200, decided.text
    award_a_badge(services, community_id, auth)
    for service in SERVICES:  # the platform dashboard's HTTP panels per service
        httpx.get(f"{services.url(service)}/v1/{service}/healthz")


@pytest.fixture(scope="module")
def flowing(running: tuple[Deployment, str], prometheus: str, receiver: str) -> tuple[str, str]:
    """(Prometheus URL, database URL) once the traffic went in."""
    services, database_url = running
    services.receiver = receiver
    send_traffic(services)
    return prometheus, database_url


def award_a_badge(services: Deployment, community_id: str, auth: dict[str, str]) -> None:
    """Give the community a badge for a first message, then have a newcomer write one
    (rules apply from their upload on, so to activity after it)."""
    gamification = services.url("gamification")
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:  # gamification knows the community once it read its first events
        put = httpx.put(
            f"{gamification}/v1/gamification/communities/{community_id}/rules",
            content=GAMIFICATION_RULES,
            headers={**auth, "Content-Type": "application/yaml"},
            timeout=30,
        )
        if put.status_code != 404 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert put.status_code in (200, 201), put.text
    sent = httpx.post(
        f"{services.url('ingest')}/v1/ingest/events",
        json={
            "type": "community.message.created",
            "community_id": community_id,
            "occurred_at": (datetime.now(UTC) + timedelta(seconds=5)).isoformat(),
            "source_event_id": "ops-newcomer",
            "channel_id": "general",
            "actor": {"platform_user_id": "fay", "username": "fay"},
            "content": {"text": "hi all, just joined"},
        },
        headers=auth,
        timeout=30,
    )
    assert sent.status_code == 200, sent.text


def promql(prometheus: str, expr: str) -> tuple[str | None, int]:
    """(error, number of series) of an instant query."""
    try:
        answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    except httpx.HTTPError as exc:
        return f"unreachable: {exc}", 0
    body = answer.json()
    if body.get("status") != "success":
        return f"{body.get('errorType')}: {body.get('error')}", 0
    return None, len(body["data"]["result"])


def sql_rows(
    database_url: str, sql: str, values: dict[str, list[str]] | None = None
) -> tuple[str | None, int]:
    async def run() -> int:
        connection = await asyncpg.connect(
            database_url.replace("postgresql+asyncpg://", "postgresql://")
        )
        try:
            return len(await connection.fetch(expand_macros(sql, values=values)))
        finally:
            await connection.close()

    try:
        return None, asyncio.run(run())
    except asyncpg.PostgresError as exc:
        return f"{type(exc).__name__}: {exc}", 0


async def variable_values(database_url: str, query: str) -> list[str]:
    connection = await asyncpg.connect(
        database_url.replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        return [str(row["__value"]) for row in await connection.fetch(query)]
    finally:
        await connection.close()


def until_all_answer(check: Any, pending: list[Query]) -> dict[Query, str]:
    """Poll every query until it returns data; errors fail at once, silence at the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    problems: dict[Query, str] = {}
    while pending and time.monotonic() < deadline:
        still = []
        for query in pending:
            error, count = check(query.text)
            if error is not None:
                problems[query] = error
            elif count == 0:
                still.append(query)
        pending = still
        if pending:
            time.sleep(1)
    problems.update({query: "no series / no rows" for query in pending})
    return problems


def test_every_promql_panel_answers_series_from_the_running_services(
    flowing: tuple[str, str],
) -> None:
    prometheus, _ = flowing
    expressions = [q for q in queries() if q.language == "promql"]
    assert len(expressions) >= 25
    problems = until_all_answer(lambda expr: promql(prometheus, expr), expressions)
    assert not problems, "\n".join(f"{q}\n    -> {why}" for q, why in problems.items())
    rules = httpx.get(f"{prometheus}/api/v1/rules").json()["data"]["groups"][0]["rules"]
    assert len(rules) == 7 and all(rule["health"] == "ok" for rule in rules), rules


def test_every_sql_panel_returns_rows_from_the_services_read_models(
    flowing: tuple[str, str],
) -> None:
    _, database_url = flowing
    picked = {}  # each variable's values as its own query finds them ("All")
    for variable in variables():
        rows = asyncio.run(variable_values(database_url, variable["query"]))
        assert rows, f"variable ${variable['name']} offers no value"
        picked[variable["name"]] = rows
    statements = [q for q in queries() if q.language == "sql"]
    assert len(statements) >= 15
    problems = until_all_answer(lambda sql: sql_rows(database_url, sql, picked), statements)
    assert not problems, "\n".join(f"{q}\n    -> {why}" for q, why in problems.items())
