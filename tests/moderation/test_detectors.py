# ruff: noqa: RUF001  (Cyrillic letters here are meant)
"""The keyword detector's readings of Russian words: transliteration must not make a
swear word out of an ordinary one."""

from __future__ import annotations

import pytest

from services.moderation.domain.detectors import KeywordDetector, Message
from services.moderation.domain.rules import DEFAULT_RULES, KeywordsRule

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
