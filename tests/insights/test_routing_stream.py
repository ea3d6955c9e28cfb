"""End to end on real Kafka + PostgreSQL: a spike is routed to a signed webhook, once.

Feedback goes in through ingest's REST API; insights clusters it, the community's rules
see the cluster grow 3x within an hour, and route an alert to the product team: an
`insights.insight.routed` event on insights.v1 and a Slack-format webhook, signed with
HMAC-SHA256. The receiver (a local HTTP server) fails twice before it accepts; it still
gets the alert exactly once with a valid signature (every attempt under one delivery id),
and the deliveries API shows it delivered after three attempts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from ulid import ULID

from services.insights.domain.delivery import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from shared.events.envelope import Envelope
from tests.insights.conftest import Stack

pytestmark = pytest.mark.integration

SECRET = "a-signing-key-for-the-product-team"
EARLIER = [("ann", "The app crashes every time I try to upload a photo")]
NOW = [
    ("boris", "Приложение вылетает каждый раз, когда я пытаюсь загрузить фото"),
    ("cyd", "The app crashes whenever I upload a photo from my gallery"),
    ("dan", "Every time I upload a photo the app crashes"),
]


@dataclass
class Receiver:
    """A webhook receiver that answers 500 to its first `fail` requests."""

    fail: int
    url: str = ""
    calls: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = 500 if len(self.calls) < self.fail else 200
        self.calls.append((dict(request.headers), body, status))
        return web.Response(status=status, text="ok" if status == 200 else "down")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver(fail=2)
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    found.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield found
    finally:
        await runner.cleanup()


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_INSIGHTS_DELIVERY_BACKOFF_SECONDS", "0.2")
    monkeypatch.setenv("HEARTH_INSIGHTS_DELIVERY_INTERVAL_SECONDS", "0.2")


@pytest.fixture
async def routed(quick_retries: None, stack: Stack) -> Stack:
    return stack


def rules(url: str) -> str:
    return f"""\
destinations:
  product-slack:
    url: {url}
    format: slack
    secret: {SECRET}
rules:
  - name: crash-spikes
    team: product
    intents: [bug_report, complaint]
    trigger: spike
    min_size: 3
    factor: 3
    window_minutes: 60
    to: [product-slack]
"""


async def post(stack: Stack, community: str, user: str, text: str, at: str) -> None:
    answer = await stack.client.post(
        "/v1/ingest/events",
        json={
            "type": "community.feedback.submitted",
            "community_id": community,
            "platform": "discord",
            "occurred_at": at,
            "channel_id": "bugs",
            "source_event_id": f"msg-{user}",
            "actor": {"platform_user_id": user, "username": user},
            "content": {"text": text},
        },
        headers=stack.auth(),
    )
    assert answer.status_code == 200, answer.text


async def poll(stack: Stack, path: str, done: Any) -> Any:
    """GET `path` until `done(body)` holds (bounded: 180 s)."""
    deadline = time.monotonic() + 180
    while True:
        answer = await stack.client.get(path, headers=stack.auth())
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if done(body) or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.3)


async def test_a_spike_reaches_the_webhook_once_signed_despite_two_failures(
    routed: Stack, receiver: Receiver
) -> None:
    stack = routed
    created = await stack.client.post(
        "/v1/ingest/communities", json={"name": "Game", "time_zone": "UTC"}, headers=stack.auth()
    )
    community = created.json()["id"]
    bad = await stack.client.put(
        f"/v1/insights/communities/{community}/routing",
        content=rules(receiver.url).replace("team: product", "team: marketing"),
        headers={**stack.auth(), "Content-Type": "application/yaml"},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["line"] == 8
    put = await stack.client.put(
        f"/v1/insights/communities/{community}/routing",
        content=rules(receiver.url),
        headers={**stack.auth(), "Content-Type": "application/yaml"},
    )
    assert put.status_code == 200, put.text
    assert put.json()["rules"]["destinations"]["product-slack"]["secret"] == "***"

    clusters = f"/v1/insights/communities/{community}/clusters"
    for user, text in EARLIER:
        await post(stack, community, user, text, "2026-11-20T08:00:00Z")
    await poll(stack, clusters, lambda body: len(body["items"]) == 1)
    for user, text in NOW:
        await post(stack, community, user, text, "2026-11-20T10:00:00Z")
    items = (await poll(stack, clusters, lambda b: sum(c["size"] for c in b["items"]) == 4))[
        "items"
    ]
    assert [c["size"] for c in items] == [4], "the four paraphrases share one cluster"

    deliveries = await poll(
        stack,
        f"/v1/insights/communities/{community}/deliveries",
        lambda body: any(d["status"] == "delivered" for d in body["items"]),
    )
    assert [(d["status"], d["attempts"], d["last_status"]) for d in deliveries["items"]] == [
        ("delivered", 3, 200)
    ]
    await asyncio.sleep(1.0)  # a repeat would be due by now (interval and backoff 0.2 s)
    accepted = [(h, b) for h, b, status in receiver.calls if status == 200]
    assert len(receiver.calls) == 3 and len(accepted) == 1
    assert len({h[DELIVERY_HEADER] for h, _, _ in receiver.calls}) == 1
    headers, body = accepted[0]
    assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    slack = json.loads(body)
    assert "Feedback alert for product" in slack["text"]
    assert "grew 3.0x within 60 min" in slack["blocks"][1]["text"]["text"]
    assert "msg-" in slack["blocks"][1]["text"]["text"]  # source links

    routed_list = await poll(
        stack, f"/v1/insights/communities/{community}/routed", lambda b: b["items"]
    )
    [insight] = routed_list["items"]
    assert (insight["team"], insight["trigger"], insight["kind"]) == ("product", "spike", "alert")
    assert insight["cluster_id"] == items[0]["id"]
    event = await routed_event(stack, insight["id"])
    assert event.type == "insights.insight.routed"
    assert event.data["routed_to"] == "product" and event.data["cluster_id"] == items[0]["id"]


async def routed_event(stack: Stack, event_id: str) -> Envelope:
    """The routed insight's event, read back from insights.v1 on the broker."""
    consumer = stack.bus.consumer(["insights.v1"], f"reader-{str(ULID()).lower()}")
    await consumer.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for record in await consumer.fetch(1000, 0.5):
                envelope = Envelope.from_kafka(record.key, record.value, record.headers)
                if envelope.id == event_id:
                    return envelope
    finally:
        await consumer.stop()
    raise AssertionError("the routed insight never reached insights.v1")


async def test_poll_answers_and_the_retrospective_through_the_api(stack: Stack) -> None:
    """Poll answers posted through ingest appear aggregated; the month renders in EN and RU."""
    created = await stack.client.post(
        "/v1/ingest/communities", json={"name": "Polls", "time_zone": "UTC"}, headers=stack.auth()
    )
    community = created.json()["id"]
    votes = [("ann", [0]), ("boris", [1]), ("cyd", [1]), ("ann", [1])]  # ann changes her vote
    for n, (user, options) in enumerate(votes):
        answer = await stack.client.post(
            "/v1/ingest/events",
            json={
                "type": "community.poll.answered",
                "community_id": community,
                "platform": "telegram",
                "occurred_at": f"2026-11-20T10:0{n}:00Z",
                "source_event_id": f"vote-{n}",
                "actor": {"platform_user_id": user, "username": user},
                "attributes": {"poll_id": "5102", "option_ids": options},
            },
            headers=stack.auth(),
        )
        assert answer.status_code == 200, answer.text
    poll = await poll_until(  # ann's second vote (same key, same partition) comes after her first
        stack,
        f"/v1/insights/communities/{community}/polls/5102",
        lambda b: {o["option"]: o["votes"] for o in b["options"]} == {"1": 3},
    )
    assert {o["option"]: o["votes"] for o in poll["options"]} == {"1": 3}
    assert poll["voters"] == 3
    assert poll["new_voters"] == 3  # all first seen at the poll

    base = f"/v1/insights/communities/{community}/retrospective?month=2026-11"
    report = (await stack.client.get(base, headers=stack.auth())).json()
    assert report["activity"]["mau"] == 3 and report["polls"][0]["leading"] == "1"
    english = await stack.client.get(base + "&format=markdown", headers=stack.auth())
    russian = await stack.client.get(base + "&format=html&locale=ru", headers=stack.auth())
    assert english.headers["content-type"].startswith("text/markdown")
    assert "| Monthly active members | 3 |" in english.text
    assert russian.headers["content-type"].startswith("text/html")
    assert "Ретроспектива сообщества" in russian.text and "<svg" in russian.text
    bad = await stack.client.get(base.replace("2026-11", "2026-13"), headers=stack.auth())
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


async def poll_until(stack: Stack, path: str, done: Any) -> Any:
    """GET `path` until it answers 200 and `done(body)` holds (bounded: 180 s)."""
    deadline = time.monotonic() + 180
    while True:
        answer = await stack.client.get(path, headers=stack.auth())
        if (answer.status_code == 200 and done(answer.json())) or time.monotonic() > deadline:
            assert answer.status_code == 200, answer.text
            return answer.json()
        await asyncio.sleep(0.3)
