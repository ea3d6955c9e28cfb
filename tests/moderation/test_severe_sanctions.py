"""Severe categories sanction at once: the first removal for a threat bans, whatever the
ladder says, and a harder ladder step still wins."""

from __future__ import annotations

import pytest

from services.moderation.domain.rules import RulesError, parse_rules
from services.moderation.domain.sanctions import SanctionKind, sanction_for
from services.moderation.review import category_of

RULES = parse_rules(
    """\
rules:
  - {id: threats, kind: keywords, words: [killyou], action: remove, reason: t, category: threat}
  - {id: swears, kind: keywords, words: [darn], action: remove, reason: s}
sanctions:
  ladder:
    - {strikes: 1, action: warn}
    - {strikes: 4, action: ban}
  severe:
    threat: {action: mute, duration_seconds: 86400}
"""
)


def test_a_severe_category_skips_the_ladder() -> None:
    sanctions = RULES.sanctions
    first = sanction_for(sanctions, 1, "threat")
    assert first is not None and (first.action, first.duration_seconds) == (
        SanctionKind.MUTE,
        86400,
    )
    ordinary = sanction_for(sanctions, 1, "profanity")
    assert ordinary is not None and ordinary.action == SanctionKind.WARN
    harder = sanction_for(sanctions, 4, "threat")  # the ladder's ban is harder than the mute
    assert harder is not None and harder.action == SanctionKind.BAN


def test_the_category_of_a_rule_or_a_classifier_attribute() -> None:
    assert category_of(RULES, "threats") == "threat"
    assert category_of(RULES, "swears") == "profanity"  # the kind's default
    assert category_of(RULES, "classifier.sexual") == "sexual"
    assert category_of(RULES, "gone") is None


def test_severe_categories_alone_are_a_valid_section_and_need_valid_penalties() -> None:
    alone = parse_rules("sanctions:\n  severe:\n    threat: {action: ban}\n")
    assert alone.sanctions is not None and alone.sanctions.ladder == []
    with pytest.raises(RulesError) as error:
        parse_rules("sanctions:\n  severe:\n    threat: {action: mute}\n")
    assert "a mute needs duration_seconds" in str(error.value)
    with pytest.raises(RulesError):
        parse_rules("sanctions: {strike_expiry_seconds: 600}\n")
