# ruff: noqa: RUF002, RUF003  (Cyrillic letters here are meant)
"""What the classifier sees of a text: a canonical reading and its n-grams.

Training and the runtime share these functions, so both read a text the same way:

- the text is normalized by `domain.normalize.forms` (NFKC, zero-width characters
  removed, case folded, accents stripped), then read as Latin (Cyrillic look-alikes and
  leetspeak undone: `ѕh1t` → `shit`) for English, or as Cyrillic (Latin look-alikes
  undone: `cyka` → `сука`) for Russian;
- letters spelled apart (`f.u.c.k`, `п и з д е ц`) are joined, runs of three or more of
  one letter become one (`fuuuck` → `fuck`), everything that is not a letter, a digit
  or `*` becomes a space;
- the features are the words, pairs of neighbouring words and the character 3- to
  5-grams of each word padded with spaces (`" fu"`, `"uck "`), the way scikit-learn's
  `char_wb` analyzer cuts them.
"""

from __future__ import annotations

import re
from functools import lru_cache

from services.moderation.domain.normalize import forms

NGRAM_MIN = 3
NGRAM_MAX = 5
MIN_FEATURES = 16
"""Texts with fewer features are scaled as if they had this many, so one short word
cannot reach a high score on a few weights alone."""

# Three or more letters with punctuation between (`f.u.c.k`), or four or more with spaces
# between (`f u c k`; three would join Russian one-letter words such as «а я в»).
_SPELLED_APART = re.compile(
    r"(?<![^\W\d_])(?:(?:[^\W\d_][.\-_*]+){2,}|(?:[^\W\d_] ){3,})[^\W\d_](?![^\W\d_])"
)
_SEPARATORS = re.compile(r"[.\-_* ]")
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")
_NOT_WORD = re.compile(r"[^\w*]+")


_LETTERS = re.compile(r"[^\W\d_]+")
# Links and domains say nothing of the language the message is written in.
_LINKS = re.compile(r"(?:https?://|www\.)\S+|[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b\S*", re.ASCII)
# Letters that only one of the two alphabets has: what decides a word written in both
# (`Yоu arе` with a Cyrillic о and е is English, `тyпица` with a Latin y is Russian).
_ONLY_CYRILLIC = frozenset("бгдёжзийлпфцчшщъыьэюя")
_ONLY_LATIN = frozenset("dfgijlqsvwz")


def _script_of_word(word: str) -> tuple[int, int]:
    """(Cyrillic, Latin) letter counts of one word, a mixed word given wholly to one."""
    cyrillic = sum(1 for char in word if "\u0400" <= char <= "\u04ff")
    latin = sum(1 for char in word if _is_latin(char))
    if not cyrillic or not latin:
        return cyrillic, latin
    lowered = word.lower()
    own_cyrillic = sum(1 for char in lowered if char in _ONLY_CYRILLIC)
    own_latin = sum(1 for char in lowered if char in _ONLY_LATIN)
    if (own_cyrillic, cyrillic) > (own_latin, latin):
        return cyrillic + latin, 0
    return 0, cyrillic + latin


def _is_latin(char: str) -> bool:
    """Latin letters, accented ones and the full-width and styled forms NFKC makes Latin
    (`ｆｕｃｋ`, `𝐟𝐮𝐜𝐤`); other scripts (Greek, CJK, Arabic) count for neither language."""
    return (
        char < "\u0250"
        or "\u1e00" <= char <= "\u1eff"
        or "\uff21" <= char <= "\uff5a"
        or "\U0001d400" <= char <= "\U0001d7ff"
    )


def language_of(text: str) -> str:
    """`ru` or `en` by the letters used (Cyrillic against Latin), `und` without letters.

    A word mixing both alphabets counts for the one whose own letters it has (look-alike
    letters such as а/a, о/o, с/c are shared), so look-alike tricks keep their language;
    links are not counted."""
    if text.isascii():
        return "en" if any(char.isalpha() for char in text) else "und"
    cyrillic = latin = 0
    for word in _LETTERS.findall(_LINKS.sub(" ", text)):
        if word.isascii():
            latin += len(word)
            continue
        word_cyrillic, word_latin = _script_of_word(word)
        cyrillic += word_cyrillic
        latin += word_latin
    if not cyrillic and not latin:
        return "und"
    return "ru" if cyrillic >= latin else "en"


def canonical(text: str, language: str) -> str:
    """The reading of `text` the model of `language` is trained on."""
    readings = forms(text)
    reading = readings.cyrillic if language == "ru" else readings.latin
    reading = _SPELLED_APART.sub(lambda m: _SEPARATORS.sub("", m.group(0)), reading)
    reading = _REPEATS.sub(r"\1", reading)
    return " ".join(_NOT_WORD.sub(" ", reading).split())


@lru_cache(maxsize=65536)
def word_features(word: str) -> tuple[str, ...]:
    """The character n-grams of one word, padded with spaces, and the word itself."""
    padded = f" {word} "
    grams = {
        padded[start : start + size]
        for size in range(NGRAM_MIN, NGRAM_MAX + 1)
        for start in range(len(padded) - size + 1)
    }
    grams.add("w:" + word)
    return tuple(grams)


def features(text: str, language: str) -> set[str]:
    """The distinct features of `text`: words, word pairs, character n-grams of words."""
    words = canonical(text, language).split()
    out: set[str] = set()
    for index, word in enumerate(words):
        out.update(word_features(word))
        if index:
            out.add("b:" + words[index - 1] + " " + word)
    return out
