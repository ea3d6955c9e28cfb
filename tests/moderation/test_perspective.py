"""Perspective API's comments:analyze served by Hearth: a Perspective client changes its
base URL and keeps working. Request and response bodies follow Perspective's own
documentation (conversationai/perspectiveapi, 2-api/methods.md and limits.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.moderation.tables import decisions
from tests.moderation.conftest import Moderation

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("moderation", ["memory"], indirect=True),  # HTTP only: cheap
]

URL = "/v1/moderation/perspective/v1alpha1/comments:analyze"

# Perspective's documented AnalyzeComment example, less the attribute Hearth does not score.
DOCUMENTED = {
    "comment": {"text": "What kind of idiot name is foo? Sorry, I like your name."},
    "languages": ["en"],
    "requestedAttributes": {"TOXICITY": {}},
}


async def analyze(
    moderation: Moderation, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    """POST as Perspective clients do: the key in `?key=`, no Authorization header."""
    return await moderation.client.post(URL, params={"key": key or moderation.admin_key}, json=body)


def error_of(answer: httpx.Response, code: int = 400) -> dict[str, Any]:
    assert answer.status_code == code, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == code
    return error


async def test_the_documented_request_gets_the_documented_response_shape(
    moderation: Moderation,
) -> None:
    answer = await analyze(moderation, DOCUMENTED)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"attributeScores", "languages", "detectedLanguages"}
    assert body["languages"] == ["en"]
    summary = body["attributeScores"]["TOXICITY"]["summaryScore"]
    assert summary["type"] == "PROBABILITY"
    assert 0.0 <= summary["value"] <= 1.0
    kind = await analyze(moderation, {**DOCUMENTED, "comment": {"text": "I like your name."}})
    assert summary["value"] > kind.json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
    assert "spanScores" not in body["attributeScores"]["TOXICITY"]


async def test_span_annotations_score_each_sentence(moderation: Moderation) -> None:
    text = DOCUMENTED["comment"]["text"]  # type: ignore[index]
    answer = await analyze(
        moderation,
        {
            **DOCUMENTED,
            "spanAnnotations": True,
            "requestedAttributes": {"TOXICITY": {}, "INSULT": {}},
        },
    )
    assert answer.status_code == 200, answer.text
    assert text[0:31] == "What kind of idiot name is foo?"
    for name in ("TOXICITY", "INSULT"):
        spans = answer.json()["attributeScores"][name]["spanScores"]
        assert [(s["begin"], s["end"]) for s in spans] == [(0, 31), (32, 56)]
        assert {s["score"]["type"] for s in spans} == {"PROBABILITY"}
    rude, kind = (
        s["score"]["value"] for s in answer.json()["attributeScores"]["INSULT"]["spanScores"]
    )
    assert rude > kind


async def test_russian_is_detected_and_the_client_token_echoed(moderation: Moderation) -> None:
    answer = await analyze(
        moderation,
        {
            "comment": {"text": "Я тебя найду и переломаю ноги"},
            "requestedAttributes": {"THREAT": {}, "SPAM": {"scoreThreshold": 0.5}},
            "clientToken": "comment-53922",
            "doNotStore": True,
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["languages"], body["detectedLanguages"]) == (["ru"], ["ru"])
    assert body["clientToken"] == "comment-53922"
    assert body["attributeScores"]["THREAT"]["summaryScore"]["value"] > 0.5
    assert "SPAM" not in body["attributeScores"]  # under its scoreThreshold: left out


async def test_every_supported_attribute_is_scored(moderation: Moderation) -> None:
    names = ["TOXICITY", "INSULT", "THREAT", "PROFANITY", "SEXUALLY_EXPLICIT", "SPAM"]
    answer = await moderation.client.post(
        URL,
        json={
            "comment": {"text": "FREE NITRO at dlscord-gift.com, claim now"},
            "requestedAttributes": {name: {} for name in names},
            "languages": ["en-US"],
        },
        headers=moderation.auth(),  # a Bearer header works as well
    )
    assert answer.status_code == 200, answer.text
    scores = {k: v["summaryScore"]["value"] for k, v in answer.json()["attributeScores"].items()}
    assert set(scores) == set(names)
    assert scores["SPAM"] > 0.5 > scores["THREAT"]


async def test_attributes_hearth_does_not_score_are_refused_as_perspective_refuses_them(
    moderation: Moderation,
) -> None:
    documented = {**DOCUMENTED, "requestedAttributes": {"TOXICITY": {}, "UNSUBSTANTIAL": {}}}
    error = error_of(await analyze(moderation, documented))
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == "Attribute UNSUBSTANTIAL does not support request languages: en"
    [detail] = error["details"]
    assert detail["errorType"] == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    unknown = {**DOCUMENTED, "requestedAttributes": {"NICENESS": {}}}
    assert error_of(await analyze(moderation, unknown))["message"] == (
        "Unknown requested attribute: NICENESS"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"comment": {"text": "  "}}, "Comment must be non-empty."),
        ({"comment": {"text": "x" * 20481}}, "Comment text too long."),
        ({"requestedAttributes": {}}, "Missing requested_attributes."),
        ({"languages": ["de"]}, "Attribute TOXICITY does not support request languages: de"),
        (
            {"requestedAttributes": {"TOXICITY": {"scoreType": "RAW"}}},
            "Requested score type RAW is not supported by attribute TOXICITY",
        ),
        ({"comment": {"text": "<b>hi</b>", "type": "HTML"}}, "only 'PLAIN_TEXT'"),
        ({"comment": {"text": "👍👍"}, "languages": []}, "Unable to detect language."),
        ({"comment": {"text": "你好世界"}, "languages": []}, "Unable to detect language."),
        ({"comment": "not an object"}, "Invalid value at 'comment'"),
    ],
)
async def test_bad_requests_are_400_in_perspectives_error_shape(
    moderation: Moderation, change: dict[str, Any], message: str
) -> None:
    error = error_of(await analyze(moderation, {**DOCUMENTED, **change}))
    assert message in error["message"]
    assert error["status"] == "INVALID_ARGUMENT"


async def test_keys_are_checked_in_the_query_and_nothing_is_stored(
    moderation: Moderation,
) -> None:
    wrong = await analyze(moderation, DOCUMENTED, key="hth_nope_nope")
    assert error_of(wrong, 401)["status"] == "UNAUTHENTICATED"
    no_scope = await moderation.key("gamification:read")
    assert error_of(await analyze(moderation, DOCUMENTED, key=no_scope), 403)["status"] == (
        "PERMISSION_DENIED"
    )
    reader = await moderation.key("moderation:read")
    assert (await analyze(moderation, {**DOCUMENTED, "doNotStore": False}, key=reader)).is_success
    async with moderation.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(decisions)) == 0
