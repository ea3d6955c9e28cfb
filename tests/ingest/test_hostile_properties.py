"""Arbitrary JSON against every normalizer and the integrator schema (hypothesis).

Inputs are real platform payloads with a few nodes replaced by arbitrary JSON (so most
reach deep into the normalizers), plus wholly arbitrary values. Pure properties: each
input is normalized, or refused with MalformedPayload / a ValidationError, and whatever
comes out either fails the bounds check with problems or can be published (enveloped,
serialized). On the running service (real PostgreSQL + Kafka): never a 5xx, and every
event found on the topic was recorded.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.ingest.api.events import _draft
from services.ingest.domain import bounds, webhooks
from services.ingest.domain.discord import normalize_discord_gateway
from services.ingest.domain.model import BindingContext, MalformedPayload, Normalized
from services.ingest.schemas import EventIn
from shared.bus.port import envelope_message
from shared.events.community import Platform
from shared.events.envelope import derived_event_id
from tests.ingest.conftest import FIXTURES, OWN, Ingest, hub_signature, slack_headers

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
ODD = st.sampled_from(
    ["", "\x00", "a\x00b", "9" * 400, "-1", "1e308", "-62135596800", "x" * 700,
     "0001-01-01T00:00:00", "2026-01-01T00:00:00", "9999-12-31T23:59:59Z", "T999"]
)  # fmt: skip
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | ODD
)
JSON = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)

INTERACTION = "interaction.application_command.chat_input.docs.json"
SAMPLES: dict[Platform, list[tuple[Path, dict[str, str]]]] = {
    Platform.SLACK: [(FIXTURES / "slack" / n, {}) for n in ("message.json", "reaction_added.json")],
    Platform.GITHUB: [
        (FIXTURES / "github" / "issues.opened.json", {"x-github-event": "issues"}),
        (FIXTURES / "github" / "issue_comment.created.json", {"x-github-event": "issue_comment"}),
    ],
    Platform.TELEGRAM: [(FIXTURES / "telegram" / "message.text.telegram-docs.json", {})],
    Platform.DISCOURSE: [
        (OWN / "discourse" / "post_created.json", {"x-discourse-event": "post_created"})
    ],
    Platform.DISCORD: [(FIXTURES / "discord" / INTERACTION, {})],
}
GATEWAY = [
    FIXTURES / "discord" / name
    for name in ("gateway.MESSAGE_CREATE.json", "gateway.MESSAGE_REACTION_ADD.json")
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict) and head in value:
        return {**value, head: _replaced(value[head], rest, new)}
    if isinstance(value, list) and isinstance(head, int) and head < len(value):
        return [*value[:head], _replaced(value[head], rest, new), *value[head + 1 :]]
    return value


@st.composite
def mutated(draw: st.DrawFn, original: Any) -> Any:
    """The payload with one to three nodes (never the root) replaced by arbitrary JSON."""
    paths = [p for p in _paths(original) if p]
    payload = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 3))):
        payload = _replaced(payload, draw(st.sampled_from(paths)), draw(JSON))
    return payload


def _deliveries() -> st.SearchStrategy[tuple[Platform, Any, dict[str, str]]]:
    options = []
    for platform, samples in SAMPLES.items():
        for path, headers in samples:
            original = json.loads(path.read_bytes())
            options.append(st.tuples(st.just(platform), mutated(original) | JSON, st.just(headers)))
    return st.one_of(options)


def _binding(platform: Platform) -> BindingContext:
    return BindingContext("tenant-1", "community-1", "binding-1", platform, "T111")


def _publishable_or_refused(normalized: Normalized) -> None:
    for event in normalized.events:
        if bounds.event_problems(event, now=NOW):
            continue
        # what accept() does with an event that passes: id, envelope, JSON for the record
        derived_event_id(f"{event.community_id}:{event.dedup_key}", event.occurred_at)
        envelope_message("community.events.v1", event.to_envelope())
        json.dumps(event.model_dump(mode="json"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_deliveries())
def test_every_webhook_normalizer_normalizes_or_refuses(
    delivery: tuple[Platform, Any, dict[str, str]],
) -> None:
    platform, payload, headers = delivery
    body = json.dumps(payload).encode()
    headers = {"x-github-delivery": "d-1", **headers}
    try:
        normalized = webhooks.normalize(
            platform, body, headers, _binding(platform), received_at=NOW
        )
    except MalformedPayload:
        return
    _publishable_or_refused(normalized)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(GATEWAY).flatmap(lambda p: mutated(json.loads(p.read_bytes()))) | JSON)
def test_the_discord_gateway_normalizer_normalizes_or_refuses(frame: Any) -> None:
    try:
        normalized = normalize_discord_gateway(frame, _binding(Platform.DISCORD), received_at=NOW)
    except MalformedPayload:
        return
    _publishable_or_refused(normalized)


def _integrator_event() -> dict[str, Any]:
    return {
        "type": "community.message.created",
        "community_id": "community-1",
        "occurred_at": "2026-01-02T03:04:05Z",
        "source_event_id": "e-1",
        "workspace_id": "w",
        "actor": {"platform_user_id": "u1", "username": "ann"},
        "content": {"text": "hello", "mentions": ["u2"]},
        "attributes": {"k": "v"},
    }


@settings(max_examples=300, deadline=None)
@given(mutated(_integrator_event()) | JSON)
def test_the_integrator_schema_accepts_or_rejects(raw: Any) -> None:
    try:
        item = EventIn.model_validate(raw)
    except ValidationError:
        return
    draft = _draft(item, "tenant-1")
    _publishable_or_refused(Normalized(events=(draft,)))


# --- the running service ---------------------------------------------------------------


class Portal:
    """The ingest service running on an event loop of its own thread, so synchronous
    hypothesis tests can send it requests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any, timeout: float = 60) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


SLACK_SECRET = "property-secret"
HUB_SECRET = "property-hub-secret"


@pytest.fixture(scope="module")
def live(
    postgres_url: str, kafka_bootstrap: str
) -> Iterator[tuple[Portal, Ingest, dict[str, Any]]]:
    """Ingest on real PostgreSQL + Kafka with a Slack and a GitHub binding."""
    from ulid import ULID

    from services.ingest.secrets import SecretBox
    from shared.bus.kafka import KafkaBus
    from shared.db.engine import Database
    from tests.ingest.conftest import start_ingest
    from tests.shared.conftest import drop_schema

    mp = pytest.MonkeyPatch()
    mp.setenv("HEARTH_INGEST_SECRETS_KEY", SecretBox.new_key())
    portal = Portal()
    suffix = str(ULID()).lower()
    db = Database(postgres_url, schema=f"ingest_{suffix}", pool_size=5)
    tenancy = Database(postgres_url, schema=f"hearth_{suffix}", pool_size=2)

    async def start() -> tuple[Ingest, dict[str, Any]]:
        bus = KafkaBus(kafka_bootstrap, client_id="ingest-property-test")
        ingest = await start_ingest("kafka", bus, db, tenancy)
        community = await ingest.community()
        slack = await ingest.bind(community, "slack", "T111", {"signing_secret": SLACK_SECRET})
        github = await ingest.bind(community, "github", "octo-org", {"webhook_secret": HUB_SECRET})
        return ingest, {"community": community, "slack": slack, "github": github}

    ingest, where = portal.run(start())
    try:
        yield portal, ingest, where
    finally:

        async def stop() -> None:
            await ingest.client.aclose()
            await ingest.host.stop()
            await drop_schema(db)
            await drop_schema(tenancy)

        portal.run(stop())
        portal.close()
        mp.undo()


STATUSES: list[int] = []


def _live_bodies() -> st.SearchStrategy[tuple[str, Any]]:
    slack = json.loads((FIXTURES / "slack" / "message.json").read_bytes())
    issue = json.loads((FIXTURES / "github" / "issues.opened.json").read_bytes())
    return st.one_of(
        st.tuples(st.just("slack"), mutated(slack)),
        st.tuples(st.just("github"), mutated(issue)),
        st.tuples(st.just("api"), mutated({"events": [_integrator_event()]})),
    )


@pytest.mark.integration
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(_live_bodies())
def test_the_service_never_answers_5xx(
    live: tuple[Portal, Ingest, dict[str, Any]], sent: tuple[str, Any]
) -> None:
    portal, ingest, where = live
    kind, payload = sent
    events = payload.get("events") if kind == "api" and isinstance(payload, dict) else None
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict):
            event["community_id"] = where["community"]
    body = json.dumps(payload).encode()
    if kind == "slack":
        path, headers = where["slack"]["webhook_path"], slack_headers(SLACK_SECRET, body)
    elif kind == "github":
        path = where["github"]["webhook_path"]
        headers = {
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": f"d-{len(STATUSES)}",
            "X-Hub-Signature-256": hub_signature(HUB_SECRET, body),
            "Content-Type": "application/json",
        }
    else:
        path, headers = "/v1/ingest/events", {**ingest.auth(), "Content-Type": "application/json"}
    answer = portal.run(ingest.client.post(path, content=body, headers=headers))
    STATUSES.append(answer.status_code)
    assert answer.status_code < 500, answer.text


@pytest.mark.integration
def test_every_event_the_property_run_published_was_recorded(
    live: tuple[Portal, Ingest, dict[str, Any]],
) -> None:
    portal, ingest, where = live
    community = where["community"]

    async def recorded() -> set[str]:
        ids: set[str] = set()
        cursor = None
        while True:
            params = {
                "community_id": community,
                "limit": 200,
                **({"cursor": cursor} if cursor else {}),
            }
            page = (
                await ingest.client.get("/v1/ingest/events", params=params, headers=ingest.auth())
            ).json()
            ids |= {item["event_id"] for item in page["items"]}
            cursor = page.get("next_cursor")
            if not cursor:
                return ids

    published = portal.run(
        ingest.published(
            "community.events.v1",
            match=lambda e: e.data.get("community_id") == community,
            expected=10**6,
            timeout=5,
        )
    )
    assert {e.id for e in published} <= portal.run(recorded())
