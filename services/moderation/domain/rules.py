# ruff: noqa: RUF001  (Cyrillic letters here are meant)
"""A community's rules: the YAML format, its validation, and the default ruleset.

```yaml
exempt: {roles: [moderator], channels: [], members: []}
rules:
  - id: profanity
    kind: keywords            # keywords | regex | links | mentions | caps | flood
    words: ["*fuck*", "shit*", "хуй*"]
    allow: [scunthorpe]
    action: hide              # flag | hide | remove
    reason: profanity
```

`parse_rules(text)` returns a `RuleSet` or raises `RulesError`, whose errors name the
line and the field (`rules[2].max_ratio`) of each problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

import regex
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.moderation.domain.conflict import ConflictSettings
from services.moderation.domain.reports import ReportSettings
from services.moderation.domain.sanctions import Sanctions
from services.moderation.domain.yaml_lines import Located, Path, YamlSyntaxError, load

MAX_RULES_BYTES = 256 * 1024


class Action(StrEnum):
    """What a matching rule asks for; the strongest among matching rules wins."""

    FLAG = "flag"
    HIDE = "hide"
    REMOVE = "remove"


def _compiles(pattern: str) -> str:
    try:
        regex.compile(pattern, regex.IGNORECASE | regex.VERSION1)
    except regex.error as error:
        raise ValueError(f"not a valid regular expression: {error}") from None
    return pattern


def _domain(value: str) -> str:
    value = value.strip().lower().removeprefix("*.").rstrip(".")
    if not value or "/" in value or " " in value or "." not in value:
        raise ValueError("expected a domain such as example.com")
    return value


Word = Annotated[str, Field(min_length=1, max_length=200)]
Pattern = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_compiles)]
Domain = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_domain)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Exempt(_Strict):
    """Who and where rules do not apply: role names, channel ids, member or user ids."""

    roles: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    members: list[str] = Field(
        default_factory=list, description="Hearth member ids, platform user ids or usernames"
    )


class _Rule(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    action: Action
    reason: str = Field(min_length=1, max_length=200)
    category: str | None = Field(
        default=None, max_length=64, description="the score this rule feeds (default per kind)"
    )
    enabled: bool = True
    exempt: Exempt = Field(default_factory=Exempt)


class KeywordsRule(_Rule):
    """Words and phrases, matched after normalization; `*` at either end means any letters."""

    kind: Literal["keywords"]
    words: list[Word] = Field(min_length=1, max_length=5000)
    allow: list[Word] = Field(default_factory=list, max_length=5000)


class RegexRule(_Rule):
    """Regular expressions (the `regex` module's syntax), each run with a time bound."""

    kind: Literal["regex"]
    patterns: list[Pattern] = Field(min_length=1, max_length=200)
    match_on: Literal["normalized", "raw"] = "normalized"


class LinksRule(_Rule):
    """Links to denied domains, to any domain outside `allow_domains`, shorteners, invites."""

    kind: Literal["links"]
    deny_domains: list[Domain] = Field(default_factory=list)
    allow_domains: list[Domain] | None = Field(
        default=None, description="when given, a link to any other domain matches"
    )
    shorteners: bool = False
    invites: bool = False

    @model_validator(mode="after")
    def _something_to_match(self) -> LinksRule:
        matches_something = self.deny_domains or self.shorteners or self.invites
        if not matches_something and self.allow_domains is None:
            raise ValueError(
                "a links rule needs deny_domains, allow_domains, shorteners or invites"
            )
        return self


class MentionsRule(_Rule):
    """More than `max` mentions in one message."""

    kind: Literal["mentions"]
    max: int = Field(ge=0, le=10_000)


class CapsRule(_Rule):
    """A share of capital letters above `max_ratio`, in messages of `min_letters` or more."""

    kind: Literal["caps"]
    max_ratio: float = Field(gt=0, le=1)
    min_letters: int = Field(default=12, ge=1)


class FloodRule(_Rule):
    """More than `max_messages` from one member within `per_seconds`."""

    kind: Literal["flood"]
    max_messages: int = Field(ge=1, le=10_000)
    per_seconds: int = Field(ge=1, le=86_400)


Rule = Annotated[
    KeywordsRule | RegexRule | LinksRule | MentionsRule | CapsRule | FloodRule,
    Field(discriminator="kind"),
]


Attribute = Literal["toxicity", "insult", "threat", "profanity", "sexual", "spam"]


class ClassifierAttribute(_Strict):
    """What a classifier score at or above `threshold` asks for."""

    threshold: float = Field(ge=0, le=1)
    action: Action
    flag_at: float | None = Field(
        default=None, ge=0, le=1, description="a lower score that flags for review"
    )

    @model_validator(mode="after")
    def _flag_below_threshold(self) -> ClassifierAttribute:
        if self.flag_at is not None and self.flag_at > self.threshold:
            raise ValueError("flag_at must not be above threshold")
        return self


class ClassifierConfig(_Strict):
    """The offline classifiers' thresholds; attributes not listed are scored, never acted on."""

    enabled: bool = True
    attributes: dict[Attribute, ClassifierAttribute] = Field(default_factory=dict)


class RuleSet(_Strict):
    """A community's rules: what is exempt, the rules in order, the classifier thresholds.

    Without a `classifier` section the default ruleset's thresholds apply."""

    exempt: Exempt = Field(default_factory=Exempt)
    rules: list[Rule] = Field(default_factory=list, max_length=500)
    classifier: ClassifierConfig | None = None
    sanctions: Sanctions | None = Field(
        default=None, description="the strikes ladder; without it strikes give no sanction"
    )
    reports: ReportSettings = Field(default_factory=ReportSettings)
    conflicts: ConflictSettings = Field(default_factory=ConflictSettings)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return self


@dataclass(frozen=True)
class RuleError:
    """One problem in an uploaded ruleset."""

    line: int | None
    field: str
    message: str


class RulesError(ValueError):
    """An uploaded ruleset is not valid; each error names its line and field."""

    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(f"line {first.line}: {first.field}: {first.message}")


def parse_rules(text: str) -> RuleSet:
    """Validate a YAML ruleset; RulesError names the line and field of every problem."""
    if len(text.encode()) > MAX_RULES_BYTES:
        raise RulesError([RuleError(None, "", f"larger than {MAX_RULES_BYTES} bytes")])
    try:
        located = load(text)
    except YamlSyntaxError as error:
        raise RulesError([RuleError(error.line, "", error.message)]) from None
    if not isinstance(located.data, dict):
        raise RulesError([RuleError(1, "", "expected a mapping with `rules:`")])
    try:
        return RuleSet.model_validate(located.data)
    except ValidationError as error:
        raise RulesError([_locate(located, item) for item in error.errors()]) from None


def _locate(located: Located, item: Any) -> RuleError:
    """Turn a pydantic error location into a YAML path, its line and a field name."""
    path: list[str | int] = []
    cursor: Any = located.data
    for part in item["loc"]:
        if isinstance(cursor, dict) and part not in cursor and cursor.get("kind") == part:
            continue  # the discriminated union's tag, not a field
        path.append(part)
        if isinstance(cursor, dict):
            cursor = cursor.get(part)
        elif isinstance(cursor, list) and isinstance(part, int) and part < len(cursor):
            cursor = cursor[part]
        else:
            cursor = None
    message = str(item["msg"]).removeprefix("Value error, ")
    return RuleError(located.line_of(tuple(path)), _field(tuple(path)), message)


def _field(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


DEFAULT_RULES_YAML = """\
# Hearth's default rules: apply to every community until it uploads its own.
classifier:                 # offline English/Russian models; 0.5 is each one's tuned point
  enabled: true
  attributes:
    threat: {threshold: 0.5, action: remove}
    insult: {threshold: 0.5, action: hide}
    profanity: {threshold: 0.5, action: hide}
    sexual: {threshold: 0.5, action: hide}
    spam: {threshold: 0.5, action: remove}
    toxicity: {threshold: 0.5, action: flag}
rules:
  - id: profanity-en
    kind: keywords
    words: ["*fuck*", "shit", "shits", "shitty", "bullshit*", "bitch*", "cunt*",
            "asshole*", "dickhead*", "cocksucker*", "whore*", "slut*", "faggot*",
            "nigger*", "retard", "retards", "retarded"]
    allow: ["shitake", "shiitake"]
    action: hide
    reason: profanity
    category: profanity
  - id: profanity-ru
    kind: keywords
    words: ["хуй*", "нахуй", "похуй*", "хуе*", "хуё*", "хуя*", "*пизд*", "ебат*", "ебал*",
            "ебан*", "ебу*", "ёбан*", "заеб*", "заёб*", "наеб*", "наёб*", "выеб*", "съеб*",
            "уеб*", "уёб*", "долбоеб*", "долбоёб*", "бля", "бляд*", "блят*", "сука", "суки",
            "сучар*", "мудак*", "мудил*", "пидор*", "пидар*", "гандон*", "залуп*", "шлюх*"]
    allow: ["оскорблять", "застраховать", "страхуй", "застрахуй"]
    action: hide
    reason: profanity
    category: profanity
  - id: scam-phrases
    kind: regex
    patterns:
      - "free\\\\s+(discord\\\\s+)?nitro"
      - "(crypto|bitcoin|btc|eth|usdt)\\\\s+(giveaway|airdrop)"
      - "double\\\\s+your\\\\s+(crypto|bitcoin|btc|money|eth)"
      - "(бесплатн\\\\w*\\\\s+нитро|раздач\\\\w*\\\\s+(крипт|биткоин|usdt))"
    action: remove
    reason: scam
    category: spam
  - id: invite-and-short-links
    kind: links
    shorteners: true
    invites: true
    action: hide
    reason: invite or shortened link
    category: spam
  - id: mention-spam
    kind: mentions
    max: 5
    action: hide
    reason: too many mentions
    category: spam
  - id: shouting
    kind: caps
    max_ratio: 0.8
    min_letters: 16
    action: flag
    reason: mostly capital letters
    category: caps
  - id: flood
    kind: flood
    max_messages: 8
    per_seconds: 10
    action: hide
    reason: too many messages in a short time
    category: spam
"""

DEFAULT_RULES = parse_rules(DEFAULT_RULES_YAML)
"""The ruleset a community has until it sets its own (version 0)."""

DEFAULT_CLASSIFIER = DEFAULT_RULES.classifier or ClassifierConfig()
"""The classifier thresholds of a ruleset without a `classifier` section."""
