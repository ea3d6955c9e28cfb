"""Rulesets in YAML: validated on upload, with the line of each problem."""

import pytest

from services.gamification.domain.rules import (
    DEFAULT_RULESET,
    InvalidRuleset,
    RulesetProblem,
    parse_ruleset,
)
from shared.events.community import CommunityEventType


def problems(text: str) -> list[RulesetProblem]:
    with pytest.raises(InvalidRuleset) as raised:
        parse_ruleset(text)
    return raised.value.problems


def test_a_valid_ruleset_parses() -> None:
    ruleset = parse_ruleset(
        """
time_zone: Europe/Berlin
rules:
  - id: long-message
    event: community.message.created
    points: 10
    when: {min_length: 20, channels: ["general"], platforms: [discord]}
    cooldown_seconds: 60
    caps: [{per: day, points: 100}]
"""
    )
    (rule,) = ruleset.rules
    assert rule.event is CommunityEventType.MESSAGE_CREATED
    assert rule.when.min_length == 20
    assert ruleset.time_zone == "Europe/Berlin"


def test_each_problem_names_its_line() -> None:
    found = problems(
        """time_zone: Mars/Olympus
rules:
  - id: a
    event: community.message.created
    points: -3
  - id: b
    event: community.message.deleted
    points: 1
  - id: c
    event: community.thread.created
    random: {min: 5, max: 1}
    when:
      colour: red
"""
    )
    assert [(p.line, p.path) for p in found] == [
        (1, "time_zone"),
        (5, "rules.0.points"),
        (7, "rules.1.event"),
        (11, "rules.2.random"),
        (13, "rules.2.when.colour"),
    ]
    assert "takes points back" in found[2].message


def test_broken_yaml_names_its_line() -> None:
    (found,) = problems("rules:\n  - id: a\n    points: [1,\n")
    assert found.line == 4
    assert "not YAML" in found.message


def test_a_rule_needs_exactly_one_amount() -> None:
    (found,) = problems("rules:\n  - {id: a, event: community.message.created}\n")
    assert (found.line, found.path) == (2, "rules.0")
    assert "exactly one of points or random" in found.message


def test_rule_ids_are_unique() -> None:
    (found,) = problems(
        """rules:
  - {id: b, event: community.message.created, points: 1}
  - {id: b, event: community.thread.created, points: 1}
"""
    )
    assert "used twice" in found.message


def test_aliases_are_refused_so_a_small_document_cannot_explode() -> None:
    (found,) = problems("a: &x [1, 2]\nb: [*x, *x, *x]\n")
    assert "aliases" in found.message


def test_no_code_is_ever_run_from_yaml() -> None:
    (found,) = problems("rules: !!python/object/apply:os.system ['true']\n")
    assert (found.line, found.path) == (1, "rules")
    assert "not allowed" in found.message


def test_the_version_is_the_services_to_set() -> None:
    (found,) = problems("version: 7\nrules: []\n")
    assert found.path == "version"


def test_the_default_ruleset_awards_messages() -> None:
    assert DEFAULT_RULESET.version == 0
    assert any(r.event is CommunityEventType.MESSAGE_CREATED for r in DEFAULT_RULESET.rules)
