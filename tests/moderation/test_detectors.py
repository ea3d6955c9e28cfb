# ruff: noqa: RUF001  (Cyrillic letters here are meant)
"""The keyword detector's readings of Russian words: transliteration must not make a
swear word out of an ordinary one."""

from __future__ import annotations

import pytest

from services.moderation.domain.detectors import KeywordDetector, Message, RegexTimeout
from services.moderation.domain.rules import DEFAULT_RULES, KeywordsRule, parse_rules

PROFANITY_RU = next(
    rule
    for rule in DEFAULT_RULES.rules
    if isinstance(rule, KeywordsRule) and rule.id == "profanity-ru"
)


@pytest.mark.parametrize(
    "text",
    [
        "Он пишет новичкам «убей себя», забаньте его.",
        "Надо перестать называть себя дурой.",
        "Себестоимость выросла.",
    ],
)
def test_words_read_like_a_swear_word_only_in_transliteration_stay_clean(text: str) -> None:
    assert KeywordDetector(PROFANITY_RU).score(Message(text), 1.0) is None


@pytest.mark.parametrize("text", ["съебись отсюда", "СЪЕБАЛ быстро"])
def test_the_swear_word_itself_still_matches(text: str) -> None:
    assert KeywordDetector(PROFANITY_RU).score(Message(text), 1.0) == 1.0


def test_a_keyword_that_could_backtrack_still_runs_under_the_time_bound() -> None:
    # Twelve a's: every split of a long run of a's among the twelve parts is tried.
    rules = parse_rules(
        "rules:\n  - {id: aaa, kind: keywords, words: [aaaaaaaaaaaa], action: hide, reason: x}\n"
    )
    detector = KeywordDetector(rules.rules[0])  # type: ignore[arg-type]
    with pytest.raises(RegexTimeout):
        detector.score(Message("a" * 3000 + "!b"), 0.01)


@pytest.mark.parametrize("text", ["f*u*c*k you", "fuck you", "ок, сука, ладно"])
def test_keywords_match_with_or_without_stars_in_the_text(text: str) -> None:
    rules = parse_rules(
        "rules:\n  - {id: p, kind: keywords, words: [fuck, сука], action: hide, reason: x}\n"
    )
    assert KeywordDetector(rules.rules[0]).score(Message(text), 0.05) == 1.0  # type: ignore[arg-type]
