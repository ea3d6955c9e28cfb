"""Webhooks end to end: a signed platform payload becomes a canonical event on the topic."""

from __future__ import annotations

import json
import time

from nacl.signing import SigningKey

from shared.events.community import CommunityEvent
from tests.ingest.conftest import Ingest, fixture, hub_signature, own, slack_headers, with_fields

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
EVENTS = "community.events.v1"


async def slack_binding(ingest: Ingest) -> tuple[str, str]:
    community = await ingest.community()
    binding = await ingest.bind(community, "slack", "T111", {"signing_secret": SLACK_SECRET})
    return community, binding["webhook_path"]


async def test_slack_message_becomes_a_canonical_event_on_the_topic(ingest: Ingest) -> None:
    community, path = await slack_binding(ingest)
    body = fixture("slack/message.json")
    answer = await ingest.client.post(path, content=body, headers=slack_headers(SLACK_SECRET, body))
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    [event_id] = answer.json()["event_ids"]
    [envelope] = await ingest.published(EVENTS, match=lambda e: e.id == event_id)
    event = CommunityEvent.model_validate(envelope.data)
    assert envelope.type == "community.message.created"
    assert event.community_id == community and event.tenant_id == ingest.tenant_id
    assert event.platform == "slack" and event.workspace_id == "T111"
    assert event.content is not None and event.content.text == "Hello World!"
    assert event.actor.platform_user_id == "W111"
    assert event.actor.member_id, "every actor gets a Hearth member id"
    listed = await ingest.client.get(
        "/v1/ingest/events", params={"community_id": community}, headers=ingest.auth()
    )
    assert [e["event_id"] for e in listed.json()["items"]] == [event_id]


async def test_slack_redelivery_is_published_once(ingest: Ingest) -> None:
    community, path = await slack_binding(ingest)
    body = fixture("slack/message.json")
    first = await ingest.client.post(path, content=body, headers=slack_headers(SLACK_SECRET, body))
    retry_headers = {**slack_headers(SLACK_SECRET, body), "X-Slack-Retry-Num": "1"}
    again = await ingest.client.post(path, content=body, headers=retry_headers)
    assert first.status_code == again.status_code == 200
    assert again.json() | {"event_ids": None} == {"accepted": 0, "duplicates": 1, "event_ids": None}
    event_id = first.json()["event_ids"][0]
    assert again.json()["event_ids"] == [event_id]
    found = await ingest.published(EVENTS, match=lambda e: e.data.get("community_id") == community)
    assert [e.id for e in found] == [event_id]


async def test_bad_missing_or_stale_slack_signatures_get_401_and_publish_nothing(
    ingest: Ingest,
) -> None:
    community, path = await slack_binding(ingest)
    body = fixture("slack/message.json")
    cases = {
        "wrong secret": slack_headers("not-the-secret", body),
        "stale": slack_headers(SLACK_SECRET, body, at=time.time() - 301),
        "missing": {"Content-Type": "application/json"},
        "tampered": slack_headers(SLACK_SECRET, body.replace(b"Hello", b"Hellp")),
    }
    for case, headers in cases.items():
        answer = await ingest.client.post(path, content=body, headers=headers)
        assert answer.status_code == 401, case
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert SLACK_SECRET not in answer.text
    listed = await ingest.client.get(
        "/v1/ingest/events", params={"community_id": community}, headers=ingest.auth()
    )
    assert listed.json()["items"] == []
    assert (
        await ingest.published(
            EVENTS, match=lambda e: e.data.get("community_id") == community, timeout=2
        )
        == []
    )


async def test_slack_url_verification_is_answered_with_its_challenge(ingest: Ingest) -> None:
    _, path = await slack_binding(ingest)
    body = fixture("slack/url_verification.json")
    answer = await ingest.client.post(path, content=body, headers=slack_headers(SLACK_SECRET, body))
    assert answer.status_code == 200
    assert answer.json() == {"challenge": json.loads(body)["challenge"]}


async def test_malformed_and_unknown_payloads_get_4xx_or_are_ignored_never_5xx(
    ingest: Ingest,
) -> None:
    _, path = await slack_binding(ingest)
    garbage = b"{not json"
    answer = await ingest.client.post(
        path, content=garbage, headers=slack_headers(SLACK_SECRET, garbage)
    )
    assert answer.status_code == 400
    assert "JSON" in answer.json()["detail"]
    unknown = with_fields(
        fixture("slack/message.json"),
        event={"type": "emoji_changed", "subtype": "add", "event_ts": "1596183880.004200"},
    )
    answer = await ingest.client.post(
        path, content=unknown, headers=slack_headers(SLACK_SECRET, unknown)
    )
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 0 and answer.json()["ignored"]
    metrics = await ingest.client.get("/metrics")
    assert 'hearth_ingest_webhooks_total{outcome="malformed",platform="slack"}' in metrics.text
    assert 'hearth_ingest_webhooks_total{outcome="ignored",platform="slack"}' in metrics.text


async def test_unknown_binding_or_platform_is_404(ingest: Ingest) -> None:
    body = fixture("slack/message.json")
    headers = slack_headers(SLACK_SECRET, body)
    assert (
        await ingest.client.post("/v1/ingest/webhooks/slack/01NOPE", content=body, headers=headers)
    ).status_code == 404
    _, path = await slack_binding(ingest)
    wrong_platform = path.replace("/slack/", "/github/")
    assert (
        await ingest.client.post(wrong_platform, content=body, headers=headers)
    ).status_code == 404


async def test_github_issue_opened_is_verified_and_deduplicated_by_delivery(
    ingest: Ingest,
) -> None:
    community = await ingest.community()
    binding = await ingest.bind(
        community, "github", "Codertocat/Hello-World", {"webhook_secret": "gh-secret"}
    )
    body = fixture("github/issues.opened.json")
    headers = {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": hub_signature("gh-secret", body),
        "Content-Type": "application/json",
    }
    first = await ingest.client.post(binding["webhook_path"], content=body, headers=headers)
    again = await ingest.client.post(binding["webhook_path"], content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert again.json()["duplicates"] == 1
    [envelope] = await ingest.published(
        EVENTS, match=lambda e: e.data.get("community_id") == community
    )
    assert envelope.type == "community.issue.opened"
    assert envelope.data["actor"]["username"] == json.loads(body)["sender"]["login"]
    bad = {**headers, "X-Hub-Signature-256": hub_signature("other", body)}
    assert (
        await ingest.client.post(binding["webhook_path"], content=body, headers=bad)
    ).status_code == 401


async def test_telegram_update_needs_the_secret_token(ingest: Ingest) -> None:
    community = await ingest.community()
    body = fixture("telegram/message.text.telegram-docs.json")
    chat_id = str(json.loads(body)["message"]["chat"]["id"])
    binding = await ingest.bind(
        community, "telegram", chat_id, {"secret_token": "tg-secret_1", "bot_token": "123:abc"}
    )
    path = binding["webhook_path"]
    wrong = await ingest.client.post(
        path, content=body, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
    )
    assert wrong.status_code == 401
    answer = await ingest.client.post(
        path, content=body, headers={"X-Telegram-Bot-Api-Secret-Token": "tg-secret_1"}
    )
    assert answer.status_code == 200, answer.text
    redelivered = await ingest.client.post(
        path, content=body, headers={"X-Telegram-Bot-Api-Secret-Token": "tg-secret_1"}
    )
    assert redelivered.json()["duplicates"] == 1, "same update_id: published once"
    [envelope] = await ingest.published(
        EVENTS, match=lambda e: e.data.get("community_id") == community
    )
    assert envelope.type == "community.message.created"
    assert envelope.data["channel_id"] == chat_id


async def test_discord_interactions_answer_ping_and_refuse_bad_signatures(
    ingest: Ingest,
) -> None:
    community = await ingest.community()
    key = SigningKey.generate()
    public = key.verify_key.encode().hex()
    binding = await ingest.bind(
        community, "discord", "290926798626357999", {"public_key": public, "bot_token": "x"}
    )
    body = fixture("discord/interaction.ping.discord-interactions-js.json")
    timestamp = str(int(time.time()))
    signature = key.sign(timestamp.encode() + body).signature.hex()
    headers = {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": timestamp}
    answer = await ingest.client.post(binding["webhook_path"], content=body, headers=headers)
    assert answer.status_code == 200
    assert answer.json() == {"type": 1}
    forged = SigningKey.generate().sign(timestamp.encode() + body).signature.hex()
    probe = {"X-Signature-Ed25519": forged, "X-Signature-Timestamp": timestamp}
    assert (
        await ingest.client.post(binding["webhook_path"], content=body, headers=probe)
    ).status_code == 401


async def test_discourse_post_created_is_verified_and_normalized(ingest: Ingest) -> None:
    community = await ingest.community()
    binding = await ingest.bind(
        community, "discourse", "https://forum.example.org", {"webhook_secret": "dc-secret"}
    )
    body = own("discourse/post_created.json")
    headers = {
        "X-Discourse-Instance": "https://forum.example.org",
        "X-Discourse-Event-Id": "4711",
        "X-Discourse-Event-Type": "post",
        "X-Discourse-Event": "post_created",
        "X-Discourse-Event-Signature": hub_signature("dc-secret", body),
    }
    answer = await ingest.client.post(binding["webhook_path"], content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    redelivered = await ingest.client.post(binding["webhook_path"], content=body, headers=headers)
    assert redelivered.json()["duplicates"] == 1
    [envelope] = await ingest.published(
        EVENTS, match=lambda e: e.data.get("community_id") == community
    )
    assert envelope.type == "community.message.created"
    headers["X-Discourse-Event-Signature"] = hub_signature("other", body)
    assert (
        await ingest.client.post(binding["webhook_path"], content=body, headers=headers)
    ).status_code == 401
