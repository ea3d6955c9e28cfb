# ruff: noqa: RUF001, SIM905  (Russian words on purpose; word lists read best as text)
"""Text helpers for feedback: language by script, words for labels, and duplicate fingerprints."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[a-zA-Z]")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_DIGITS = re.compile(r"\d+")

# Function words and feedback filler that would otherwise top every label.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        """a about after again all also am an and any are as at be because been before being
        but by can cannot could did do does doing don't done for from get gets getting got had
        has have having he her here hers him his how i i'm i've if in into is it it's its just
        let like make makes me more most my no not now of off on once only or other our out
        over please really same she should so some still such than thank thanks that the their
        them then there these they this those through to too under until up us very was we
        were what when where which while who why will with would yes yet you your i'd can't
        doesn't isn't won't didn't wasn't there's that's hi hello hey guys one two would've
        anyone everyone something anything every much many even ever since also way lot""".split()
    ),
    "ru": frozenset(
        """а без более бы был была были было быть в вам вас весь во вот все всё всего всех вы
        где да даже для до его ее её ей ему если есть еще ещё же за здесь и из или им их к как
        ко когда кто ли либо мне может мы на над надо наш не него нее неё нет ни них но ну о об
        однако он она они оно от очень по под пожалуйста после при про раз с со так также такой
        там те тем то того тоже той только том ты у уже хотя чего чей чем что чтобы чье чья эта
        эти это этот я мой моя мои моё меня мной нам нас вами себя свой своя свои сейчас почему
        просто спасибо привет всем ребята кто-нибудь какой какая какие можно нужно будет буду
        будут является один одна""".split()
    ),
}


def language_of(text: str) -> str:
    """`ru` when Cyrillic letters outnumber Latin ones, else `en` (the two languages we label)."""
    cyrillic = len(_CYRILLIC.findall(text))
    latin = len(_LATIN.findall(text))
    return "ru" if cyrillic > latin else "en"


def words(text: str) -> list[str]:
    """Content words of `text`, case-folded, without stopwords or one- and two-letter words."""
    found = []
    for match in _WORD.finditer(text.casefold().replace("ё", "е")):
        word = match.group()
        if len(word) > 2 and word not in STOPWORDS["en"] and word not in STOPWORDS["ru"]:
            found.append(word)
    return found


def fingerprint(text: str) -> str:
    """Equal for texts that differ only in case, punctuation, spacing, accents or numbers."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    folded = _DIGITS.sub("0", folded)
    folded = _NOT_WORD.sub(" ", folded).strip()
    return hashlib.sha256(folded.encode()).hexdigest()[:32]
