# ruff: noqa: RUF001, RUF002  (Cyrillic letters here are meant)
"""Text normalization that undoes the usual tricks for slipping a word past a filter.

Every form starts from `base`: NFKC (full-width and styled letters become plain ones),
format characters removed (zero-width spaces and joiners, soft hyphens, BOM), case
folded and accents stripped. From it come the forms a keyword is matched in:

- `latin`: Cyrillic look-alikes read as Latin (`сunt` with a Cyrillic с) and leetspeak
  digits and symbols read as letters (`sh1t`, `@ss`);
- `cyrillic`: Latin look-alikes read as Cyrillic (`cyka`, `xуй`) and Russian leetspeak
  (`3` for з, `6` for б);
- `translit`: Cyrillic transliterated to Latin (`блять` matches `blyat`), after the
  Latin reading of look-alikes;
- `links`: look-alikes read as Latin, digits kept (for domains).

Every form of a keyword is built by the same functions, so both sides agree. Repeated
letters are handled where keywords are compiled (each letter may repeat), so `as` is
never confused with `ass`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Cyrillic letters that look like Latin ones, as the eye reads them.
_CYRILLIC_TO_LATIN = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ԛ": "q",
        "ԝ": "w",
        "һ": "h",
        "ү": "y",
    }
)
_LATIN_TO_CYRILLIC = str.maketrans(
    {
        "a": "а",
        "b": "в",
        "e": "е",
        "k": "к",
        "m": "м",
        "h": "н",
        "o": "о",
        "p": "р",
        "c": "с",
        "t": "т",
        "y": "у",
        "x": "х",
        "u": "и",
        "n": "п",
        "r": "г",
    }
)
_LEET_LATIN = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_LEET_CYRILLIC = str.maketrans({"0": "о", "3": "з", "4": "ч", "6": "б", "@": "а", "$": "с"})
_TRANSLIT = str.maketrans(
    {
        "а": "a",
        "б": "b",
        "в": "v",
        "г": "g",
        "д": "d",
        "е": "e",
        "ё": "e",
        "ж": "zh",
        "з": "z",
        "и": "i",
        "й": "y",
        "к": "k",
        "л": "l",
        "м": "m",
        "н": "n",
        "о": "o",
        "п": "p",
        "р": "r",
        "с": "s",
        "т": "t",
        "у": "u",
        "ф": "f",
        "х": "h",
        "ц": "ts",
        "ч": "ch",
        "ш": "sh",
        "щ": "sch",
        "ъ": "",
        "ы": "y",
        "ь": "",
        "э": "e",
        "ю": "yu",
        "я": "ya",
    }
)


@dataclass(frozen=True, slots=True)
class Forms:
    """The readings of one text that keywords and links are matched in."""

    base: str
    latin: str
    cyrillic: str
    translit: str
    links: str

    def get(self, name: str) -> str:
        """One form by name."""
        value: str = getattr(self, name)
        return value


_FORMAT = re.compile(
    r"[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)
# Combining marks, except the breve of й and the diaeresis of ё.
_MARKS = re.compile(r"(?<![иИ])\u0306|(?<![еЕ])\u0308|[\u0300-\u0305\u0307\u0309-\u036f]")


def base(text: str) -> str:
    """NFKC, no format characters, case folded, accents stripped (й and ё kept)."""
    text = _FORMAT.sub("", unicodedata.normalize("NFKC", text)).casefold()
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", _MARKS.sub("", unicodedata.normalize("NFD", text)))


@lru_cache(maxsize=4096)
def forms(text: str) -> Forms:
    """Every reading of `text` (cached: the same keywords are compiled once)."""
    plain = base(text)
    latin_shapes = plain.translate(_CYRILLIC_TO_LATIN)
    return Forms(
        base=plain,
        latin=latin_shapes.translate(_LEET_LATIN),
        cyrillic=plain.translate(_LEET_CYRILLIC).translate(_LATIN_TO_CYRILLIC),
        translit=plain.translate(_TRANSLIT).translate(_CYRILLIC_TO_LATIN).translate(_LEET_LATIN),
        links=latin_shapes,
    )


def is_cyrillic(text: str) -> bool:
    """Whether any letter of `text` is Cyrillic."""
    return any("\u0400" <= ch <= "\u04ff" for ch in text)
