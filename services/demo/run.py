"""Replay the sample community through the embedded platform and report what happened.

The demo starts every service in this process on its embedded mode (the durable SQLite
bus and SQLite files, in a temporary directory unless `data_dir` is given), creates a
tenant, a community and its bindings through the API, then sends the sample the way the
platforms would: signed Slack, Telegram and GitHub webhooks, Discord through the
integrator API. When every consumer has caught up it reads back what the services
decided, from their topics (like any subscriber) and their APIs.
"""

from __future__ import annotations

import asyncio
import json
import secrets as random_secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from services.demo.sample import (
    CONFLICT,
    GITHUB_REPO,
    PEOPLE,
    SLACK_TEAM,
    SPAM,
    TELEGRAM_CHAT,
    TOXIC_RU,
    Item,
    script,
)
from services.demo.sandbox import Sandbox, telegram_sandbox
from services.demo.wire import (
    Request,
    Secrets,
    discord_event,
    github_request,
    slack_request,
    telegram_request,
)
from services.embedded import DEV_TENANT, embedded_host, ensure_secrets_key, sqlite_url
from services.ingest.settings import Settings as IngestSettings
from shared.bus.sqlite import SqliteBus
from shared.db.engine import Database
from shared.events.envelope import Envelope
from shared.host import Host
from shared.tenancy.repository import create_key, create_tenant, migrate_tenancy

IN_FLIGHT = 8
WATCHED_TOPICS = (
    "community.events.v1",
    "moderation.decisions.v1",
    "moderation.actions.v1",
    "gamification.awards.v1",
    "gamification.core_members.v1",
    "insights.v1",
)


@dataclass
class Report:
    """What the replay produced, as plain data (what `render` prints and tests check)."""

    community_id: str = ""
    sent: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    seconds: float = 0.0
    names: dict[str, str] = field(default_factory=dict)
    """member id → "username (platform)"."""
    decisions: list[dict[str, Any]] = field(default_factory=list)
    """Every non-allow decision and conflict alert, with the judged text."""
    verdicts: Counter[str] = field(default_factory=Counter)
    actions: list[dict[str, Any]] = field(default_factory=list)
    sanctions: list[dict[str, Any]] = field(default_factory=list)
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    badges: Counter[str] = field(default_factory=Counter)
    core: list[str] = field(default_factory=list)
    clusters: list[dict[str, Any]] = field(default_factory=list)
    routed: list[dict[str, Any]] = field(default_factory=list)
    platform_calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """What the platforms were asked to do: (platform, API method, parameters)."""
    reviewed: list[dict[str, Any]] = field(default_factory=list)
    """The moderator's decisions on the review queue: verdict, text, note."""
    webhooks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Insights the teams' webhooks received: (team, body)."""

    def reset_topics(self) -> None:
        """Forget what was read from the topics, to read them again from the start."""
        self.decisions, self.actions, self.routed, self.core = [], [], [], []
        self.verdicts, self.badges = Counter(), Counter()


class DemoError(RuntimeError):
    """The replay could not be set up or did not settle."""


async def run_demo(
    data_dir: Path,
    *,
    now: datetime | None = None,
    settle_timeout: float = 180.0,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Replay the sample into a fresh embedded platform in `data_dir`; the report."""
    say = progress or (lambda _message: None)
    _prepare(data_dir)
    key = await _bootstrap(data_dir)
    report = Report()
    items = script(now)
    async with telegram_sandbox() as sandbox:
        ingest = IngestSettings(telegram_api_url=sandbox.url)
        host = embedded_host(data_dir, settings={"ingest": ingest})
        await _replay_into(host, key, items, report, settle_timeout, say, sandbox)
        report.platform_calls = [("telegram", method, params) for method, params in sandbox.calls]
        report.webhooks = list(sandbox.hooks)
    return report


async def _replay_into(
    host: Host,
    key: str,
    items: list[Item],
    report: Report,
    settle_timeout: float,
    say: Callable[[str], None],
    sandbox: Sandbox,
) -> None:
    app = host.create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://hearth.demo",
            timeout=60,
            headers={"Authorization": f"Bearer {key}"},
        ) as client:
            say("creating the community and its bindings")
            secrets = await _setup(client)
            report.community_id = secrets.community_id
            bus = host.bus
            assert isinstance(bus, SqliteBus)
            await _settle(bus, settle_timeout)  # every service has heard of the community
            say("setting the community's sanctions, feedback routing, badges and core")
            await _configure(client, secrets.community_id, f"{sandbox.url}/hooks")
            say(f"replaying {len(items)} items from Slack, Telegram, Discord and GitHub")
            started = time.monotonic()
            await _replay(client, items, secrets, report)
            say("waiting for moderation, gamification and insights to catch up")
            await _settle(bus, settle_timeout)
            core = await client.post(
                f"/v1/gamification/communities/{secrets.community_id}/core/evaluations", json={}
            )
            if core.status_code < 300:
                await _settle(bus, settle_timeout)
            say("a moderator works through the review queue")
            await _read_topics(bus, report)
            report.reviewed = await _review(client, secrets.community_id, report)
            await _settle(bus, settle_timeout)
            report.seconds = time.monotonic() - started
            report.reset_topics()
            await _read_topics(bus, report)
            # Ingest's dispatcher sends the actions after the decisions; their results
            # come back to moderation on ingest.action_results.v1.
            telegram = sum(1 for a in report.actions if a.get("platform") == "telegram")
            await sandbox.wait_for(telegram, timeout=30)
            await _settle(bus, settle_timeout)
            await _read_apis(client, report)
            await _names(client, report)


def _prepare(data_dir: Path) -> None:
    if (data_dir / "bus.db").exists():
        raise DemoError(f"{data_dir} already holds a Hearth; the demo needs an empty directory")
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_secrets_key(data_dir)


async def _bootstrap(data_dir: Path) -> str:
    db = Database(sqlite_url(data_dir / "hearth.db"), schema="hearth")
    try:
        await migrate_tenancy(db)
        await create_tenant(db, DEV_TENANT, "Development")
        key = await create_key(db, tenant_id=DEV_TENANT, name="dev admin", scopes=["admin"])
    finally:
        await db.dispose()
    _save_key(data_dir / "dev-api-key", key)
    return key


def _save_key(path: Path, key: str) -> None:
    """Where `hearth dev` looks for the admin key of its tenant."""
    path.write_text(key + "\n", encoding="utf-8")
    path.chmod(0o600)


async def _patiently(
    client: httpx.AsyncClient, method: str, path: str, **kw: Any
) -> httpx.Response:
    """Send; on 429 or 503 wait as Retry-After says and send again, as the platforms do."""
    for _ in range(30):
        answer = await client.request(method, path, **kw)
        if answer.status_code not in (429, 503):
            return answer
        await asyncio.sleep(min(float(answer.headers.get("Retry-After", "1")), 5))
    return answer


async def _post(client: httpx.AsyncClient, path: str, body: Any) -> dict[str, Any]:
    """POST JSON and return the answer's body; DemoError unless it succeeded."""
    answer = await _patiently(client, "POST", path, json=body)
    if answer.status_code >= 300:
        raise DemoError(f"POST {path}: {answer.status_code} {answer.text[:500]}")
    result: dict[str, Any] = answer.json()
    return result


async def _setup(client: httpx.AsyncClient) -> Secrets:
    community = await _post(
        client, "/v1/ingest/communities", {"name": "Lumen", "time_zone": "Europe/Berlin"}
    )
    community_id = community["id"]
    signing, token, hook = (random_secrets.token_hex(16) for _ in range(3))
    base = f"/v1/ingest/communities/{community_id}/bindings"
    slack = await _post(
        client,
        base,
        {"platform": "slack", "external_id": SLACK_TEAM, "secrets": {"signing_secret": signing}},
    )
    telegram = await _post(
        client,
        base,
        {
            "platform": "telegram",
            "external_id": TELEGRAM_CHAT,
            "secrets": {"secret_token": token, "bot_token": "700000:demo-token-not-real"},
        },
    )
    github = await _post(
        client,
        base,
        {
            "platform": "github",
            "external_id": GITHUB_REPO.split("/")[0],
            "secrets": {"webhook_secret": hook},
        },
    )
    return Secrets(
        signing,
        slack["webhook_path"],
        token,
        telegram["webhook_path"],
        hook,
        github["webhook_path"],
        community_id,
    )


MODERATION_LADDER = """
sanctions:
  strike_expiry_seconds: 2592000
  ladder:
    - {strikes: 1, action: warn}
    - {strikes: 3, action: mute, duration_seconds: 3600}
    - {strikes: 5, action: ban}
"""


# Lumen's own gamification ruleset: the default's points, plus badges and an inner circle.
GAMIFICATION_RULES = """
time_zone: Europe/Berlin
caps:
  - {per: day, points: 1000}
rules:
  - id: message
    event: community.message.created
    random: {min: 15, max: 25}
    cooldown_seconds: 60
  - id: reaction-received
    event: community.reaction.added
    to: receiver
    points: 5
    pair_caps:
      - {per: day, points: 20}
  - id: issue
    event: community.issue.opened
    points: 30
badges:
  - id: first-words
    kind: first
    rules: [message]
  - id: helpful
    kind: threshold
    rules: [reaction-received]
    tiers: {bronze: 10, silver: 30, gold: 60}
    revoke: recheck
  - id: regular
    kind: streak
    per: day
    length: 5
    grace: 1
core:
  size: 3
  window_days: 14
  min_points: 300
  min_active_days: 5
  enter_after: 1
  leave_after: 2
"""


def _routing(webhooks: str) -> str:
    hook = random_secrets.token_hex(16)
    return f"""
destinations:
  product:
    url: {webhooks}/product
    format: json
    secret: {hook}
  smm:
    url: {webhooks}/smm
    format: json
    secret: {hook}
rules:
  - name: bugs-and-requests
    team: product
    intents: [bug_report, feature_request, complaint]
    trigger: size
    min_size: 3
    delivery: instant
    to: [product]
  - name: content-ideas
    team: smm
    intents: [praise, content_idea]
    trigger: size
    min_size: 3
    delivery: instant
    to: [smm]
"""


async def _put_yaml(
    client: httpx.AsyncClient, path: str, source: str, key: str | None = None
) -> None:
    headers = {"Content-Type": "application/yaml"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    answer = await _patiently(client, "PUT", path, content=source.encode(), headers=headers)
    if answer.status_code >= 300:
        raise DemoError(f"PUT {path}: {answer.status_code} {answer.text[:500]}")


async def _configure(client: httpx.AsyncClient, community_id: str, webhooks: str) -> None:
    """What a community manager sets up: sanctions, where feedback goes, badges, the core."""
    manager = await _post(
        client,
        "/v1/admin/keys",
        {
            "name": "Lumen community manager",
            "scopes": [
                "moderation:read",
                "moderation:write",
                "gamification:read",
                "gamification:write",
                "insights:read",
                "insights:write",
            ],
            "community_ids": [community_id],
        },
    )
    key = manager["key"]
    rules_path = f"/v1/moderation/communities/{community_id}/rules"
    answer = await client.get(rules_path)
    if answer.status_code != 200:
        raise DemoError(f"GET {rules_path}: {answer.status_code} {answer.text[:300]}")
    source = answer.json()["source"]
    await _put_yaml(client, rules_path, source.rstrip() + "\n" + MODERATION_LADDER, key)
    routing = f"/v1/insights/communities/{community_id}/routing"
    await _put_yaml(client, routing, _routing(webhooks), key)
    # Gamification has not seen the community's first event yet: a key bound to the
    # community is what says it belongs to the tenant.
    gamification = f"/v1/gamification/communities/{community_id}/rules"
    await _put_yaml(client, gamification, GAMIFICATION_RULES, key)


async def _review(
    client: httpx.AsyncClient, community_id: str, report: Report
) -> list[dict[str, Any]]:
    """A moderator removes the insults and spam the queue holds and allows the rest."""
    texts = {d["subject_event_id"]: d.get("text", "") for d in report.decisions}
    harmful = set(TOXIC_RU) | set(SPAM) | {text for who, text in CONFLICT[6:]}
    queue = await _get(client, "/v1/moderation/queue", community_id=community_id, limit=500)
    reviewed = []
    for item in queue["items"]:
        text = texts.get(item["subject_event_id"], "")
        remove = text in harmful
        note = "insulting a member" if remove else "heated, but not abusive"
        verdict = "remove" if remove else "allow"
        await _post(
            client,
            f"/v1/moderation/queue/{item['decision_id']}/decide",
            {"verdict": verdict, "note": note},
        )
        reviewed.append(
            {
                "verdict": verdict,
                "auto_verdict": item["auto_verdict"],
                "text": text,
                "member_id": item.get("member_id"),
                "note": note,
            }
        )
    return reviewed


async def _replay(
    client: httpx.AsyncClient, items: list[Item], secrets: Secrets, report: Report
) -> None:
    builders: dict[str, Callable[[Item, list[Item], Secrets], Request]] = {
        "slack": slack_request,
        "telegram": telegram_request,
        "github": github_request,
    }
    # Platforms deliver concurrently; a reaction or a comment still leaves only after the
    # message it is about was acknowledged, as on the platforms themselves.
    acknowledged = {item.seq: asyncio.Event() for item in items}
    in_flight = asyncio.Semaphore(IN_FLIGHT)

    async def deliver(item: Item) -> None:
        if item.target is not None:
            await acknowledged[item.target].wait()
        if item.platform == "discord":
            request = Request(
                "/v1/ingest/events",
                json.dumps(discord_event(item, items, secrets.community_id)).encode(),
                {"Content-Type": "application/json"},
            )
        else:
            request = builders[item.platform](item, items, secrets)
        async with in_flight:
            answer = await _patiently(
                client, "POST", request.path, content=request.body, headers=request.headers
            )
        acknowledged[item.seq].set()
        if answer.status_code >= 300:
            report.refused.append(
                f"{item.platform} #{item.seq}: {answer.status_code} {answer.text[:200]}"
            )
        else:
            report.sent[item.platform] += 1

    async with asyncio.TaskGroup() as tasks:
        for item in items:
            tasks.create_task(deliver(item))


async def _settle(bus: SqliteBus, timeout: float) -> None:
    """Wait until every consumer group committed everything, twice in a row."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        backlog = await bus.backlog()
        quiet = quiet + 1 if backlog and not any(backlog.values()) else 0
        if quiet >= 3:
            return
        await asyncio.sleep(0.5)
    raise DemoError(f"the services did not catch up within {timeout:.0f} s: {backlog}")


async def _read_topics(bus: SqliteBus, report: Report) -> None:
    """Read every watched topic from its start, as a new subscriber would."""
    consumer = bus.consumer(WATCHED_TOPICS, f"demo-report-{random_secrets.token_hex(4)}")
    await consumer.start()
    envelopes: list[tuple[str, Envelope]] = []
    try:
        while records := await consumer.fetch(5000, 0.2):
            envelopes += [
                (r.topic, Envelope.from_kafka(r.key, r.value, r.headers)) for r in records
            ]
    finally:
        await consumer.stop()
    texts = {
        envelope.id: (envelope.data.get("content") or {}).get("text") or ""
        for topic, envelope in envelopes
        if topic == "community.events.v1"
    }
    for topic, envelope in envelopes:
        _note(topic, envelope.data, report, texts)


def _note(topic: str, data: dict[str, Any], report: Report, texts: dict[str, str]) -> None:
    kind = data.get("type", "")
    if topic == "moderation.decisions.v1":
        if kind == "moderation.decision.made":
            report.verdicts[data.get("verdict", "?")] += 1
            if data.get("verdict") != "allow":
                report.decisions.append(data | {"text": texts.get(data["subject_event_id"], "")})
        elif kind == "moderation.conflict.detected":
            report.decisions.append(data | {"text": ""})
    elif topic == "moderation.actions.v1":
        report.actions.append(data)
    elif topic == "gamification.awards.v1" and kind == "gamification.badge.awarded":
        report.badges[f"{data.get('badge')}{'/' + data['tier'] if data.get('tier') else ''}"] += 1
    elif topic == "gamification.core_members.v1" and data.get("core_member"):
        report.core.append(data["member_id"])
    elif topic == "insights.v1" and kind == "insights.insight.routed":
        report.routed.append(data)


async def _get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    """GET a JSON body; DemoError unless it is a 200."""
    answer = await _patiently(client, "GET", path, params=params)
    if answer.status_code != 200:
        raise DemoError(f"GET {path}: {answer.status_code} {answer.text[:300]}")
    return answer.json()


async def _read_apis(client: httpx.AsyncClient, report: Report) -> None:
    community = report.community_id
    sanctions = await _get(client, "/v1/moderation/sanctions", community_id=community)
    report.sanctions = sanctions["items"]
    board = await _get(
        client, f"/v1/gamification/communities/{community}/leaderboard", period="all_time"
    )
    report.leaderboard = board["entries"][:10]
    clusters = await _get(client, f"/v1/insights/communities/{community}/clusters")
    report.clusters = clusters["items"][:8]


async def _names(client: httpx.AsyncClient, report: Report) -> None:
    personas = {(p.platform, p.user_id): p for p in PEOPLE.values()}
    wanted = {entry["member_id"] for entry in report.leaderboard}
    wanted |= set(report.core)
    wanted |= {s["member"] for s in report.sanctions if s.get("member")}
    wanted |= {d["member_id"] for d in report.decisions if d.get("member_id")}
    wanted |= {r["member_id"] for r in report.reviewed if r.get("member_id")}
    for member_id in wanted:
        member = await _get(client, f"/v1/ingest/members/{member_id}")
        for identity in member.get("identities", []):
            persona = personas.get((identity.get("platform"), identity.get("platform_user_id")))
            if persona is not None:
                report.names[member_id] = f"{persona.name} ({persona.platform})"
                break


def as_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data."""
    return {
        "community_id": report.community_id,
        "sent": dict(report.sent),
        "refused": report.refused,
        "seconds": round(report.seconds, 1),
        "verdicts": dict(report.verdicts),
        "decisions": report.decisions,
        "sanctions": report.sanctions,
        "platform_calls": [
            {"platform": platform, "method": method, "params": params}
            for platform, method, params in report.platform_calls
        ],
        "leaderboard": [
            entry | {"name": report.names.get(entry["member_id"], "")}
            for entry in report.leaderboard
        ],
        "badges": dict(report.badges),
        "core": [{"member_id": m, "name": report.names.get(m, "")} for m in report.core],
        "clusters": report.clusters,
        "routed": report.routed,
        "reviewed": report.reviewed,
        "webhooks": [{"team": team, "body": body} for team, body in report.webhooks],
    }
