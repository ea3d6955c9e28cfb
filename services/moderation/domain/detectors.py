# ruff: noqa: RUF001  (Cyrillic letters here are meant)
"""The detectors behind each kind of rule, compiled once per ruleset version.

Each detector takes a `Message` (and, for flood, the member's recent message count) and
returns a score in 0-1 when its rule matches, else None. Every regular expression,
including those built from keyword lists, runs with a time bound: a pattern that
backtracks without end is cut off and reported, never left to stall the consumer.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

import regex

from services.moderation.domain.normalize import Forms, forms, is_cyrillic
from services.moderation.domain.rules import (
    CapsRule,
    FloodRule,
    KeywordsRule,
    LinksRule,
    MentionsRule,
    RegexRule,
)

FLAGS = regex.IGNORECASE | regex.VERSION1

SHORTENERS = frozenset(
    {
        "bit.ly",
        "bitly.com",
        "t.co",
        "tinyurl.com",
        "goo.gl",
        "is.gd",
        "v.gd",
        "ow.ly",
        "cutt.ly",
        "rb.gy",
        "shorturl.at",
        "tiny.cc",
        "t.ly",
        "clck.ru",
        "buff.ly",
        "rebrand.ly",
        "s.id",
    }
)
# (domain, path prefix): an empty prefix means every link to the domain is an invite.
INVITES = (
    ("discord.gg", ""),
    ("discord.com", "/invite"),
    ("discordapp.com", "/invite"),
    ("t.me", "/joinchat"),
    ("t.me", "/+"),
    ("telegram.me", "/joinchat"),
    ("chat.whatsapp.com", ""),
    ("join.slack.com", ""),
)

_URL = regex.compile(
    r"(?:(?:https?://|www\.)[^\s<>\"']+)|(?:\b(?:[a-z0-9-]+\.)+[a-z]{2,}(?:/[^\s<>\"']*)?)",
    FLAGS,
)
_MENTION = regex.compile(r"<@[!&]?\d+>|(?<![\w@])@[\w.-]{2,}", FLAGS)
_VOWELS = frozenset("aeiouyаеёиоуыэюя")
_SEPARATORS = r"(?:[^\w\s]|_){0,3}"


class RegexTimeout(Exception):
    """A rule's pattern ran out of time on a message."""

    def __init__(self, rule_id: str) -> None:
        super().__init__(rule_id)
        self.rule_id = rule_id


@dataclass(frozen=True, slots=True)
class Message:
    """What the detectors look at: the text and who wrote it where."""

    text: str
    links: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    channel_id: str | None = None
    author_ids: frozenset[str] = field(default_factory=frozenset)
    """The author's Hearth member id, platform user id and username, as known."""
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def forms(self) -> Forms:
        """The normalized readings of the text."""
        return forms(self.text)


def _search(
    pattern: regex.Pattern[str], text: str, rule_id: str, timeout: float | None
) -> list[tuple[int, int]]:
    try:
        return [m.span() for m in pattern.finditer(text, timeout=timeout)]
    except TimeoutError:
        raise RegexTimeout(rule_id) from None


# keywords ------------------------------------------------------------------


def _keyword_pattern(word: str) -> str:
    """A keyword as a regex: each letter may repeat, punctuation may sit between letters,
    `*` may stand for a vowel, and a `*` at either end lets the word go on."""
    parts = []
    for char in word.strip("*"):
        if char.isspace():
            parts.append(r"\s+")
            continue
        escaped = regex.escape(char)
        parts.append(f"[{escaped}*]+" if char in _VOWELS else f"(?:{escaped})+")
    left = "" if word.startswith("*") else r"(?<!\w)"
    right = "" if word.endswith("*") else r"(?!\w)"
    return left + _SEPARATORS.join(parts) + right


_NOT_SKELETON = regex.compile(r"[^\w\s]|_|[" + "".join(sorted(_VOWELS)) + "]")
_SPACES = regex.compile(r"\s+")
_RUNS = regex.compile(r"(.)\1+")


@lru_cache(maxsize=16384)
def skeleton(text: str) -> str:
    """Consonants and digits only, separators dropped, runs collapsed: what every match of
    a keyword's pattern still contains as a substring of the text's skeleton, so the
    pattern only runs when the skeleton of the keyword is there (a cheap prefilter)."""
    return _RUNS.sub(r"\1", _SPACES.sub(" ", _NOT_SKELETON.sub("", text)))


@dataclass(frozen=True)
class _Keyword:
    skeleton: str
    pattern: regex.Pattern[str]
    linear: bool
    """Letters and spaces only, no two neighbouring ones the same: on a text without `*`,
    each part of the pattern can only end where the next letter begins, so the match
    cannot backtrack and runs without the time bound (whose clock costs 10-30 µs a call)."""


def _linear(word: str) -> bool:
    letters = word.strip("*")
    if not all(char.isalnum() or char == " " for char in letters):
        return False  # a symbol in the word can also be matched by the separators
    return all(a != b for a, b in itertools.pairwise(letters))


def _keywords(words: Iterable[str]) -> list[_Keyword]:
    unique = sorted({w for w in words if w.strip("* ")})
    return [
        _Keyword(skeleton(w.strip("*")), regex.compile(_keyword_pattern(w), FLAGS), _linear(w))
        for w in unique
    ]


@dataclass(frozen=True)
class _FormKeywords:
    form: str
    words: list[_Keyword]
    allow: list[_Keyword]


class KeywordDetector:
    """Keyword and phrase lists in every reading of the text, minus allow-listed spans."""

    def __init__(self, rule: KeywordsRule) -> None:
        self.rule_id = rule.id
        self.per_form = [
            _FormKeywords(form, words, _keywords(_readings(rule.allow, form)))
            for form in ("latin", "cyrillic", "translit")
            if (words := _keywords(_readings(rule.words, form)))
        ]

    def score(self, message: Message, timeout: float) -> float | None:
        """1.0 when a listed word occurs outside an allowed one."""
        text_forms = message.forms
        for keywords in self.per_form:
            text = text_forms.get(keywords.form)
            hits = self._spans(keywords.words, text, timeout)
            if not hits:
                continue
            allowed = self._spans(keywords.allow, text, timeout)
            if any(not _inside(hit, allowed) for hit in hits):
                return 1.0
        return None

    def _spans(self, keywords: list[_Keyword], text: str, timeout: float) -> list[tuple[int, int]]:
        shape = skeleton(text)
        spans: list[tuple[int, int]] = []
        starless = "*" not in text  # `*` is the one character two parts can both match
        for keyword in keywords:
            if keyword.skeleton in shape:
                bound = None if starless and keyword.linear else timeout
                spans.extend(_search(keyword.pattern, text, self.rule_id, bound))
        return spans


def _readings(words: Iterable[str], form: str) -> list[str]:
    """Each word as it reads in `form`: Latin words in the Latin reading; Cyrillic words
    in the Cyrillic reading and transliterated."""
    out = []
    for word in words:
        cyrillic = is_cyrillic(word)
        if form == "latin" and not cyrillic:
            out.append(forms(word).latin)
        elif form == "cyrillic" and cyrillic:
            out.append(forms(word).cyrillic)
        elif form == "translit" and cyrillic and "ъ" not in word:
            # Transliteration drops the hard sign: «съеб*» would read `seb*` and match
            # «себя»; the Cyrillic reading still matches it.
            out.append(forms(word).translit)
    return out


def _inside(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(start <= span[0] and span[1] <= end for start, end in spans)


# regex ---------------------------------------------------------------------


class RegexDetector:
    """A community's own patterns, on the normalized (or raw) text."""

    def __init__(self, rule: RegexRule) -> None:
        self.rule_id = rule.id
        self.raw = rule.match_on == "raw"
        self.patterns = [regex.compile(p, FLAGS) for p in rule.patterns]

    def score(self, message: Message, timeout: float) -> float | None:
        """1.0 when any pattern matches."""
        text = message.text if self.raw else message.forms.base
        for pattern in self.patterns:
            try:
                if pattern.search(text, timeout=timeout) is not None:
                    return 1.0
            except TimeoutError:
                raise RegexTimeout(self.rule_id) from None
        return None


# links ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    """A link found in a message: its host and path, lower case."""

    host: str
    path: str
    explicit: bool = True
    """With a scheme or www., or reported by the platform; a bare `name.tld` is not, so
    `report.pdf` never counts as a link to a domain outside an allow list."""


def find_links(message: Message, timeout: float) -> list[Link]:
    """Links in the text (look-alike letters and zero-width tricks undone) and attached."""
    found = [m.group() for m in _URL.finditer(message.forms.links, timeout=timeout)]
    links = []
    for raw, reported in [*((f, False) for f in found), *((r, True) for r in message.links)]:
        explicit = reported or "://" in raw or raw.lower().startswith("www.")
        url = raw if "://" in raw else f"http://{raw}"
        try:
            parts = urlsplit(url.strip().lower())
            hostname = parts.hostname
        except ValueError:
            continue
        host = (hostname or "").removeprefix("www.")
        if host:
            links.append(Link(host, parts.path or "/", explicit))
    return links


def _within(host: str, domains: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


class LinkDetector:
    """Denied domains, domains outside an allow list, shorteners and invite links."""

    def __init__(self, rule: LinksRule) -> None:
        self.rule = rule

    def score(self, message: Message, timeout: float) -> float | None:
        """1.0 when any link breaks the rule."""
        try:
            links = find_links(message, timeout)
        except TimeoutError:
            raise RegexTimeout(self.rule.id) from None
        rule = self.rule
        for link in links:
            if rule.allow_domains is not None and _within(link.host, rule.allow_domains):
                continue
            if _within(link.host, rule.deny_domains):
                return 1.0
            if rule.allow_domains is not None and link.explicit:
                return 1.0
            if rule.shorteners and link.host in SHORTENERS:
                return 1.0
            if rule.invites and any(
                link.host == host and link.path.startswith(prefix) for host, prefix in INVITES
            ):
                return 1.0
        return None


# counts --------------------------------------------------------------------


def mention_count(message: Message) -> int:
    """Mentions the platform reported, or those written in the text, whichever is more."""
    return max(len(message.mentions), len(_MENTION.findall(message.text, timeout=1.0)))


class MentionDetector:
    """More mentions than the rule allows."""

    def __init__(self, rule: MentionsRule) -> None:
        self.max = rule.max

    def score(self, message: Message, timeout: float) -> float | None:
        """How far over the limit, 0.5 at one over, towards 1.0."""
        count = mention_count(message)
        return None if count <= self.max else 1 - 0.5 * (self.max + 1) / count


def caps_ratio(text: str) -> tuple[float, int]:
    """The share of capital letters among cased letters, and how many cased letters."""
    upper = sum(map(str.isupper, text))
    cased = upper + sum(map(str.islower, text))
    if not cased:
        return 0.0, 0
    return upper / cased, cased


class CapsDetector:
    """Shouting: mostly capital letters in a message long enough to tell."""

    def __init__(self, rule: CapsRule) -> None:
        self.rule = rule

    def score(self, message: Message, timeout: float) -> float | None:
        """The caps ratio, when over the rule's limit."""
        if message.text.islower() or len(message.text) < self.rule.min_letters:
            return None  # no capitals at all, or too short: the common case, decided in C
        ratio, letters = caps_ratio(message.text)
        if letters < self.rule.min_letters or ratio <= self.rule.max_ratio:
            return None
        return ratio


class FloodDetector:
    """Too many messages from one member in a window; the count comes from the caller."""

    def __init__(self, rule: FloodRule) -> None:
        self.rule = rule

    def score_counts(self, recent: Mapping[int, int]) -> float | None:
        """`recent[per_seconds]` is the member's messages in the window, this one included."""
        count = recent.get(self.rule.per_seconds, 1)
        if count <= self.rule.max_messages:
            return None
        return 1 - 0.5 * (self.rule.max_messages + 1) / count
