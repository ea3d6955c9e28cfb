"""Routing rules: validation naming lines, which rules fire, digest periods, signatures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.insights.domain.delivery import render, signature, verify
from services.insights.domain.intents import Intent
from services.insights.domain.routing import (
    ClusterFigures,
    Delivery,
    Format,
    RulesInvalid,
    Trigger,
    digest_period,
    matches,
    parse_rules,
)

RULES = """\
destinations:
  product-slack:
    url: https://hooks.example.test/product
    format: slack
    secret: a-long-enough-signing-key
rules:
  - name: crash-spikes
    team: product
    intents: [bug_report, complaint]
    trigger: spike
    min_size: 3
    factor: 3
    window_minutes: 60
    to: [product-slack]
  - name: mood
    team: community
    trigger: sentiment_swing
    swing: 0.4
    min_size: 2
  - name: ugc
    team: smm
    intents: [praise, content_idea]
    min_size: 2
"""

AT = datetime(2026, 12, 4, 10, 30, tzinfo=UTC)


def figures(intent: Intent, size: int, *, before: int = 0, negative=(0, 0, 0, 0)) -> ClusterFigures:
    return ClusterFigures(
        cluster_id="C1",
        intent=intent,
        size=size,
        at=AT,
        size_before={60: before},
        negative={60: negative},
    )


def test_valid_rules_parse_with_defaults_and_hide_secrets() -> None:
    rules = parse_rules(RULES)
    assert [r.name for r in rules.rules] == ["crash-spikes", "mood", "ugc"]
    assert rules.rules[0].when is Delivery.INSTANT  # spikes alert at once
    assert rules.rules[2].when is Delivery.DAILY  # sizes go into a digest
    assert rules.redacted()["destinations"]["product-slack"]["secret"] == "***"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (RULES.replace("team: product", "team: sales"), 8, "product"),
        (RULES.replace("to: [product-slack]", "to: [nowhere]"), 14, "nowhere"),
        (RULES.replace("    factor: 3\n", "    factr: 3\n"), 12, "xtra"),
        (RULES.replace("name: ugc", "name: mood"), 20, "repeats"),
        ("rules:\n  - name: x\n    team: [product\n", 4, "YAML"),
        (RULES.replace("secret: a-long-enough-signing-key", "secret: short"), 5, "16"),
    ],
)
def test_invalid_rules_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(RulesInvalid) as raised:
        parse_rules(text)
    problem = raised.value.problems[0]
    assert problem.line == line, raised.value.problems
    assert fragment in problem.message


def test_a_spike_fires_once_per_window_and_only_when_it_grew_enough() -> None:
    rules = parse_rules(RULES)
    assert not [
        m
        for m in matches(rules, figures(Intent.BUG_REPORT, 5, before=2))
        if m.trigger is Trigger.SPIKE
    ]
    fired = [
        m
        for m in matches(rules, figures(Intent.BUG_REPORT, 6, before=2))
        if m.rule.name == "crash-spikes"
    ]
    assert len(fired) == 1 and fired[0].kind == "alert"
    assert fired[0].detail["growth"] == 3.0
    later = matches(rules, figures(Intent.BUG_REPORT, 7, before=2))
    assert [m.key for m in later if m.rule.name == "crash-spikes"] == [fired[0].key]
    # a cluster of praise is not a crash spike
    assert not [
        m
        for m in matches(rules, figures(Intent.PRAISE, 9, before=2))
        if m.rule.name == "crash-spikes"
    ]


def test_a_sentiment_swing_fires_for_community_managers() -> None:
    rules = parse_rules(RULES)
    calm = matches(rules, figures(Intent.QUESTION, 6, negative=(1, 3, 0, 3)))
    assert not [m for m in calm if m.rule.name == "mood"]
    swung = [
        m
        for m in matches(rules, figures(Intent.QUESTION, 6, negative=(3, 3, 0, 3)))
        if m.rule.name == "mood"
    ]
    assert swung and swung[0].rule.team.value == "community"
    assert swung[0].detail["negative_share"] == 1.0


def test_praise_and_ugc_reach_smm_as_content_ideas() -> None:
    rules = parse_rules(RULES)
    fired = [m for m in matches(rules, figures(Intent.CONTENT_IDEA, 2)) if m.rule.name == "ugc"]
    assert fired and fired[0].kind == "content_idea"
    assert not [m for m in matches(rules, figures(Intent.CONTENT_IDEA, 1)) if m.rule.name == "ugc"]


def test_digest_periods() -> None:
    assert digest_period(Delivery.DAILY, AT) == ("2026-12-04", datetime(2026, 12, 5, tzinfo=UTC))
    assert digest_period(Delivery.WEEKLY, AT) == ("2026-W49", datetime(2026, 12, 7, tzinfo=UTC))


def test_signature_verifies_and_slack_body_is_an_incoming_webhook_message() -> None:
    insight = {
        "kind": "content_idea",
        "team": "smm",
        "detail": {},
        "cluster": {
            "id": "C1",
            "label": "fan art",
            "intent": "content_idea",
            "size": 2,
            "members": 2,
            "links": [
                {
                    "platform": "discord",
                    "channel_id": "art",
                    "source_event_id": "m1",
                    "text": "I drew the hero",
                }
            ],
        },
    }
    body = render(Format.SLACK, insight)
    slack = json.loads(body)
    assert "Content idea" in slack["text"] and slack["blocks"][0]["type"] == "header"
    assert "discord / art / m1" in slack["blocks"][1]["text"]["text"]
    signed = signature("k" * 20, 1_700_000_000, body)
    assert verify("k" * 20, "1700000000", body, signed)
    assert not verify("k" * 20, "1700000001", body, signed)
    assert not verify("x" * 20, "1700000000", body, signed)
    assert (
        json.loads(render(Format.JSON, insight))["cluster"]["links"][0]["source_event_id"] == "m1"
    )
