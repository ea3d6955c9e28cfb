"""No 5xx from bad input: each hostile shape is a 4xx problem+json, or for a batch a
per-item rejection that lets the rest of the batch through."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.ingest.conftest import Ingest, fixture, slack_headers, with_fields

pytestmark = pytest.mark.integration

SECRET = "hostile-signing-secret"
EVENTS = "community.events.v1"


def _event(community: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "community.message.created",
        "community_id": community,
        "occurred_at": "2026-01-02T03:04:05Z",
        "actor": {"platform_user_id": "u1"},
        "content": {"text": "hello"},
        **fields,
    }


def _is_problem(answer: Any, status: int) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


async def _slack(ingest: Ingest) -> tuple[str, str]:
    community = await ingest.community()
    binding = await ingest.bind(community, "slack", "T111", {"signing_secret": SECRET})
    return community, binding["webhook_path"]


async def test_a_400_digit_slack_timestamp_is_401_not_500(ingest: Ingest) -> None:
    _, path = await _slack(ingest)
    body = fixture("slack/message.json")
    headers = {**slack_headers(SECRET, body), "X-Slack-Request-Timestamp": "9" * 400}
    _is_problem(await ingest.client.post(path, content=body, headers=headers), 401)


async def test_signed_json_nested_1000_deep_is_400(ingest: Ingest) -> None:
    community, path = await _slack(ingest)
    deep = b"[" * 1000 + b"]" * 1000
    for body in (
        deep,
        with_fields(fixture("slack/message.json"))[:-1] + b', "x": ' + deep + b"}",
    ):
        answer = await ingest.client.post(path, content=body, headers=slack_headers(SECRET, body))
        _is_problem(answer, 400)
    sent = await ingest.client.post(
        "/v1/ingest/events",
        content=json.dumps(_event(community))[:-1].encode()
        + b', "attributes": {"x": '
        + deep
        + b"}}",
        headers={**ingest.auth(), "Content-Type": "application/json"},
    )
    _is_problem(sent, 400)
    deep_options = b'{"platform": "slack", "external_id": "T2", "options": ' + deep + b"}"
    bound = await ingest.client.post(
        f"/v1/ingest/communities/{community}/bindings",
        content=deep_options,
        headers={**ingest.auth(), "Content-Type": "application/json"},
    )
    assert bound.status_code in (400, 422), bound.text


@pytest.mark.parametrize("ts", ["-62135596800.000100", "-1.000100", "99999999999.000100"])
async def test_a_slack_event_dated_before_1970_or_far_ahead_is_400(ingest: Ingest, ts: str) -> None:
    _, path = await _slack(ingest)
    payload = json.loads(fixture("slack/message.json"))
    payload["event"]["ts"] = payload["event"]["event_ts"] = ts
    body = json.dumps(payload).encode()
    answer = await ingest.client.post(path, content=body, headers=slack_headers(SECRET, body))
    _is_problem(answer, 400)
    assert "event_ts" in answer.json()["detail"] or "occurred_at" in answer.json()["detail"]


async def test_a_nul_in_a_slack_user_id_is_400(ingest: Ingest) -> None:
    _, path = await _slack(ingest)
    payload = json.loads(fixture("slack/message.json"))
    payload["event"]["user"] = "W1\u00002"
    body = json.dumps(payload).encode()
    for _ in range(2):  # the retry is answered the same, never 500
        answer = await ingest.client.post(path, content=body, headers=slack_headers(SECRET, body))
        _is_problem(answer, 400)


async def test_bad_times_and_nul_are_rejected_per_item_and_the_rest_of_the_batch_goes_through(
    ingest: Ingest,
) -> None:
    community = await ingest.community()
    bad = {
        "1969": _event(community, occurred_at="1969-12-31T23:59:59Z"),
        "year 1": _event(community, occurred_at="0001-01-01T00:00:00Z"),
        "naive": _event(community, occurred_at="2026-01-02T03:04:05"),
        "far future": _event(community, occurred_at="9999-12-31T23:59:59Z"),
        "nul in user id": _event(community, actor={"platform_user_id": "u\u00001"}),
        "nul in text": _event(community, content={"text": "a\u0000b"}),
    }
    good = _event(community, source_event_id="fine")
    answer = await ingest.client.post(
        "/v1/ingest/events", json={"events": [*bad.values(), good]}, headers=ingest.auth()
    )
    assert answer.status_code == 207, answer.text
    items = answer.json()["items"]
    assert [i["status"] for i in items] == ["rejected"] * len(bad) + ["accepted"], items
    for item in items[: len(bad)]:
        assert item["errors"], item
    [envelope] = await ingest.published(EVENTS, match=lambda e: e.data["community_id"] == community)
    assert envelope.id == items[-1]["event_id"]
    # the same event alone is a 422 problem naming the field
    alone = await ingest.client.post("/v1/ingest/events", json=bad["year 1"], headers=ingest.auth())
    _is_problem(alone, 422)
    assert alone.json()["errors"][0]["loc"] == "occurred_at"


@pytest.mark.parametrize(
    "position",
    [{"before": "abc"}, {"before": None}, {"before": 10**30}, {"before": True}, [], "x"],
)
async def test_tampered_cursors_are_400(ingest: Ingest, position: Any) -> None:
    community = await ingest.community()
    cursor = base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")
    for params in ({"cursor": cursor}, {"cursor": "!!not-base64!!"}):
        answer = await ingest.client.get(
            "/v1/ingest/events", params={"community_id": community, **params}, headers=ingest.auth()
        )
        _is_problem(answer, 400)


@pytest.mark.parametrize("since", ["2026-01-01T00:00:00", "0001-01-01T00:00:00Z"])
async def test_odd_time_filters_on_the_event_list_are_answered(ingest: Ingest, since: str) -> None:
    community = await ingest.community()
    answer = await ingest.client.get(
        "/v1/ingest/events",
        params={"community_id": community, "since": since},
        headers=ingest.auth(),
    )
    assert answer.status_code in (200, 400, 422), answer.text
