"""Rulesets as data: what earns points in a community, parsed from YAML and validated.

A ruleset is a list of rules (points per event type, with a small declarative set of
conditions, cooldowns and caps). Nothing in it is ever evaluated as code: conditions
are fixed fields compared with the event, so an evaluation costs at most a few
comparisons per listed value (lists hold at most MAX_LIST items, a ruleset at most
MAX_RULES rules). Errors name the YAML line they are about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.gamification.domain.periods import Period
from shared.events.community import CommunityEventType, Platform

MAX_RULES = 100
MAX_LIST = 100
MAX_POINTS = 10_000
MAX_YAML_BYTES = 64 * 1024

# Events that take something back; they revoke, they never earn.
REVOKING_TYPES = frozenset(
    {
        CommunityEventType.MESSAGE_DELETED,
        CommunityEventType.REACTION_REMOVED,
        CommunityEventType.MEMBER_LEFT,
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cap(_Strict):
    """At most `points` per calendar period (a soft cap: the award is cut to what is left)."""

    per: Period
    points: int = Field(ge=0, le=10_000_000)


class Conditions(_Strict):
    """What an event must match for a rule to apply; every field given must hold."""

    channels: list[str] | None = Field(default=None, max_length=MAX_LIST)
    not_channels: list[str] | None = Field(default=None, max_length=MAX_LIST)
    platforms: list[Platform] | None = Field(default=None, max_length=MAX_LIST)
    min_length: int | None = Field(default=None, ge=0, le=100_000)
    emoji: list[str] | None = Field(default=None, max_length=MAX_LIST)
    is_reply: bool | None = None
    has_attachment: bool | None = None


class RandomPoints(_Strict):
    """Points between min and max, drawn from the event id: a replay draws the same."""

    min: int = Field(ge=0, le=MAX_POINTS)
    max: int = Field(ge=0, le=MAX_POINTS)

    @model_validator(mode="after")
    def _ordered(self) -> RandomPoints:
        if self.max < self.min:
            raise ValueError("max must not be below min")
        return self


class Rule(_Strict):
    """Points for one event type, to its actor or to whom it targets (the receiver)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    event: CommunityEventType
    to: Literal["actor", "receiver"] = "actor"
    points: int | None = Field(default=None, ge=0, le=MAX_POINTS)
    random: RandomPoints | None = None
    when: Conditions = Conditions()
    cooldown_seconds: int = Field(default=0, ge=0, le=30 * 86_400)
    caps: list[Cap] = Field(default_factory=list, max_length=3)
    pair_caps: list[Cap] = Field(
        default_factory=list,
        max_length=3,
        description="per giver→receiver pair (the actor → the receiver)",
    )

    @field_validator("event")
    @classmethod
    def _earning(cls, value: CommunityEventType) -> CommunityEventType:
        if value in REVOKING_TYPES:
            raise ValueError(f"{value.value} takes points back; it cannot earn any")
        return value

    @model_validator(mode="after")
    def _one_amount(self) -> Rule:
        if (self.points is None) == (self.random is None):
            raise ValueError("give exactly one of points or random")
        return self


TIERS = ("bronze", "silver", "gold")


class Tiers(_Strict):
    """A threshold badge's tiers: the points each takes, ascending (give one or more)."""

    bronze: int | None = Field(default=None, ge=1, le=10_000_000)
    silver: int | None = Field(default=None, ge=1, le=10_000_000)
    gold: int | None = Field(default=None, ge=1, le=10_000_000)

    @model_validator(mode="after")
    def _ascending(self) -> Tiers:
        given = [value for value in (self.bronze, self.silver, self.gold) if value is not None]
        if not given:
            raise ValueError("give at least one of bronze, silver, gold")
        if given != sorted(set(given)):
            raise ValueError("tiers must take more points from bronze to silver to gold")
        return self

    def levels(self) -> list[tuple[str, int]]:
        """(tier, points) of the tiers given, lowest first."""
        points = (self.bronze, self.silver, self.gold)
        return [(name, value) for name, value in zip(TIERS, points, strict=True) if value]


class Badge(_Strict):
    """A badge a member earns once: first-time, threshold (with tiers), streak, time-bounded,
    or ranked (the top `top` of each closed day, week or month; one tier per period).

    `revoke` says what a revoked source does: `keep` (default) leaves a badge once
    earned; `recheck` withdraws it when the member no longer qualifies (and gives it
    back when they do again).
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    kind: Literal["first", "threshold", "streak", "time_bounded", "ranked"]
    rules: list[str] | None = Field(
        default=None, max_length=MAX_LIST, description="count only these rules' points"
    )
    points: int | None = Field(default=None, ge=1, le=10_000_000)
    tiers: Tiers | None = None
    per: Literal["day", "week", "month"] | None = None
    length: int | None = Field(default=None, ge=2, le=366)
    top: int | None = Field(default=None, ge=1, le=100)
    grace: int = Field(default=0, ge=0, le=7)
    starts: datetime | None = None
    ends: datetime | None = None
    revoke: Literal["keep", "recheck"] = "keep"

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Badge:
        given = {
            name
            for name in ("points", "tiers", "per", "length", "starts", "ends", "top")
            if getattr(self, name) is not None
        }
        allowed = {
            "first": set(),
            "threshold": {"points", "tiers"},
            "streak": {"per", "length"},
            "time_bounded": {"points", "starts", "ends"},
            "ranked": {"per", "top"},
        }[self.kind]
        if extra := sorted(given - allowed):
            raise ValueError(f"a {self.kind} badge takes no {', '.join(extra)}")
        if self.kind == "threshold" and (self.points is None) == (self.tiers is None):
            raise ValueError("a threshold badge gives exactly one of points or tiers")
        if self.kind == "streak" and (self.per not in ("day", "week") or self.length is None):
            raise ValueError("a streak badge gives per (day or week) and length")
        if self.kind == "ranked":
            if self.per is None or self.top is None:
                raise ValueError("a ranked badge gives per (day, week or month) and top")
            if self.revoke != "keep":
                raise ValueError("a ranked badge is kept: its period is closed")
        if self.kind != "streak" and self.grace:
            raise ValueError("only a streak badge takes grace")
        if self.kind == "time_bounded":
            if self.starts is None or self.ends is None:
                raise ValueError("a time_bounded badge gives starts and ends")
            if _aware(self.ends) <= _aware(self.starts):
                raise ValueError("ends must be after starts")
        return self


class Core(_Strict):
    """Who is a core member: the top `size` by points over a rolling window, with hysteresis.

    A member qualifies in an evaluation (one a day, at local midnight, or on request)
    with at least `min_points` over the last `window_days` and activity on at least
    `min_active_days` distinct local days; they enter after `enter_after` evaluations in
    a row qualifying and leave after `leave_after` in a row not. Staff listed in
    `exclude` never qualify; bots never earn.
    """

    size: int = Field(default=10, ge=1, le=1000)
    window_days: int = Field(default=30, ge=1, le=366)
    min_points: int = Field(default=1, ge=1, le=10_000_000)
    min_active_days: int = Field(default=1, ge=1, le=366)
    enter_after: int = Field(default=2, ge=1, le=30)
    leave_after: int = Field(default=2, ge=1, le=30)
    exclude: list[str] = Field(default_factory=list, max_length=MAX_LIST)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class Ruleset(_Strict):
    """A community's rules; `version` is set by the service when it is stored."""

    version: int = Field(default=0, ge=0)
    time_zone: str = "UTC"
    effective_from: datetime | None = None
    caps: list[Cap] = Field(
        default_factory=list, max_length=3, description="per member, across every rule"
    )
    rules: list[Rule] = Field(default_factory=list, max_length=MAX_RULES)
    badges: list[Badge] = Field(default_factory=list, max_length=MAX_RULES)
    core: Core | None = Field(default=None, description="core-member detection; off if absent")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> Ruleset:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        badges: set[str] = set()
        for badge in self.badges:
            if badge.id in badges:
                raise ValueError(f"badge id {badge.id!r} is used twice")
            badges.add(badge.id)
        return self


@dataclass(frozen=True)
class RulesetProblem:
    """One thing wrong with an uploaded ruleset, and the line (1-based) it is on."""

    line: int
    path: str
    message: str


class InvalidRuleset(ValueError):
    """An uploaded ruleset that cannot be used; `problems` say where and why."""

    def __init__(self, problems: list[RulesetProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"line {p.line}: {p.message}" for p in problems))


def parse_ruleset(text: str) -> Ruleset:
    """The ruleset in a YAML document; InvalidRuleset naming the lines that are wrong."""
    if len(text.encode()) > MAX_YAML_BYTES:
        raise InvalidRuleset([RulesetProblem(1, "", f"larger than {MAX_YAML_BYTES} bytes")])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise InvalidRuleset([RulesetProblem(line, "", f"not YAML: {exc.problem}")]) from None
    except yaml.YAMLError:
        raise InvalidRuleset([RulesetProblem(1, "", "not YAML")]) from None
    if node is None:
        raise InvalidRuleset([RulesetProblem(1, "", "empty document")])
    lines: dict[tuple[Any, ...], int] = {}
    value = _plain(node, (), lines, set())
    if not isinstance(value, dict):
        raise InvalidRuleset([RulesetProblem(1, "", "expected a mapping with `rules`")])
    if "version" in value:
        raise InvalidRuleset(
            [RulesetProblem(lines[("version",)], "version", "set by the service; leave it out")]
        )
    try:
        ruleset = Ruleset.model_validate(value)
    except ValidationError as exc:
        raise InvalidRuleset([_problem(error, lines) for error in exc.errors()]) from None
    known = {rule.id for rule in ruleset.rules}
    unknown = [
        RulesetProblem(
            lines.get(("badges", i, "rules"), 1),
            f"badges.{i}.rules",
            f"names rules the ruleset does not have: {', '.join(sorted(missing))}",
        )
        for i, badge in enumerate(ruleset.badges)
        if (missing := set(badge.rules or ()) - known)
    ]
    if unknown:
        raise InvalidRuleset(unknown)
    return ruleset


_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp")
)


def _plain(
    node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int], seen: set[int]
) -> Any:
    """Plain Python values from a composed node, recording each path's line."""
    if id(node) in seen:  # an alias: refuse, so a small document cannot expand into a huge one
        raise InvalidRuleset(
            [RulesetProblem(node.start_mark.line + 1, _dotted(path), "aliases are not allowed")]
        )
    seen.add(id(node))
    lines[path] = node.start_mark.line + 1
    if node.tag not in _PLAIN_TAGS:
        raise InvalidRuleset(
            [RulesetProblem(node.start_mark.line + 1, _dotted(path), f"tag {node.tag} not allowed")]
        )
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if not isinstance(key, str):
                raise InvalidRuleset(
                    [RulesetProblem(key_node.start_mark.line + 1, _dotted(path), "keys are text")]
                )
            result[key] = _plain(value_node, (*path, key), lines, seen)
            # A key's line, not its value's: `points:` followed by a block on the next line.
            lines[(*path, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, (*path, i), lines, seen) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    # A loader on an empty stream: it only resolves tags (int, bool, timestamp, ...).
    return yaml.SafeLoader("").construct_object(node)


def _problem(error: Any, lines: dict[tuple[Any, ...], int]) -> RulesetProblem:
    location = tuple(error["loc"])
    # A union's member name may trail the location; walk up to the nearest known path.
    probe = location
    while probe and probe not in lines:
        probe = probe[:-1]
    message = str(error["msg"]).removeprefix("Value error, ")
    return RulesetProblem(lines.get(probe, 1), _dotted(location), message)


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path)


DEFAULT_YAML = """\
# Applies until a community uploads its own: points from the first message.
time_zone: UTC
caps:
  - {per: day, points: 1000}
rules:
  - id: message
    event: community.message.created
    random: {min: 15, max: 25}
    cooldown_seconds: 60
  - id: reaction-received
    event: community.reaction.added
    to: receiver
    points: 5
    pair_caps:
      - {per: day, points: 20}
  - id: thread
    event: community.thread.created
    points: 10
  - id: accepted-answer
    event: community.answer.accepted
    to: receiver
    points: 50
  - id: poll
    event: community.poll.answered
    points: 5
  - id: event-attended
    event: community.event.attended
    points: 20
  - id: feedback
    event: community.feedback.submitted
    points: 10
    caps:
      - {per: day, points: 50}
"""

DEFAULT_RULESET = parse_ruleset(DEFAULT_YAML)
"""Version 0: what every community has until it uploads a ruleset."""


@lru_cache(maxsize=512)
def stored_ruleset(source: str, version: int) -> Ruleset:
    """A stored ruleset (validated when it was uploaded), parsed once per process."""
    return parse_ruleset(source).model_copy(update={"version": version})
