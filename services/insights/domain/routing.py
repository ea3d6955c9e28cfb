"""Routing rules: which clusters go to which team, when, and where.

A community's rules are YAML (see docs/insights.md, "Routing"). Parsing is strict: an
unknown key, a wrong type or an unknown destination is an error naming its line. Pure:
`parse_rules` takes the text, `matches` takes a cluster's figures and returns what fires.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.insights.domain.intents import Intent


class Team(StrEnum):
    """Who a routed insight is for."""

    PRODUCT = "product"
    SMM = "smm"
    COMMUNITY = "community"
    """Community managers."""


class Trigger(StrEnum):
    """What makes a rule fire for a cluster."""

    SIZE = "size"
    """The cluster reached `min_size` distinct messages (once per cluster)."""
    SPIKE = "spike"
    """The cluster grew `factor` times within `window_minutes` (at most once per window)."""
    SENTIMENT_SWING = "sentiment_swing"
    """Its negative share moved by `swing` or more between the window and before it."""


class Delivery(StrEnum):
    """When a routed insight goes out."""

    INSTANT = "instant"
    DAILY = "daily"
    WEEKLY = "weekly"


class Format(StrEnum):
    """The body a webhook receives."""

    SLACK = "slack"
    """A Slack incoming-webhook body: `text` and `blocks`."""
    JSON = "json"
    """Hearth's own JSON body."""


REDACTED = "***"

CONTENT_INTENTS = frozenset({Intent.PRAISE, Intent.CONTENT_IDEA})
"""Clusters of these intents routed to SMM are content ideas, with their source links."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Destination(_Strict):
    """A webhook: where, in which body, signed with which key."""

    url: str = Field(pattern=r"^https?://", max_length=2_000)
    format: Format = Format.JSON
    secret: str = Field(min_length=16, max_length=256, description="the HMAC-SHA256 key")


class Rule(_Strict):
    """One rule: clusters of these intents, on this trigger, to this team."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    team: Team
    intents: list[Intent] = Field(default_factory=list, description="empty: any feedback")
    trigger: Trigger = Trigger.SIZE
    min_size: int = Field(default=3, ge=1, le=100_000)
    factor: float = Field(default=3.0, gt=1, le=1_000)
    window_minutes: int = Field(default=60, ge=1, le=10_080)
    swing: float = Field(default=0.3, gt=0, le=1)
    delivery: Delivery | None = Field(
        default=None, description="default: instant for spike and sentiment_swing, else daily"
    )
    to: list[str] = Field(default_factory=list, description="destination names")

    @property
    def when(self) -> Delivery:
        """When this rule's insights go out."""
        if self.delivery is not None:
            return self.delivery
        return Delivery.DAILY if self.trigger is Trigger.SIZE else Delivery.INSTANT


class RoutingRules(_Strict):
    """A community's routing: named destinations and the rules that use them."""

    destinations: dict[str, Destination] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _known_destinations(self) -> RoutingRules:
        names = [rule.name for rule in self.rules]
        for index, rule in enumerate(self.rules):
            if names.index(rule.name) != index:
                raise _RuleError(("rules", index, "name"), f"rule name {rule.name!r} repeats")
            for position, name in enumerate(rule.to):
                if name not in self.destinations:
                    raise _RuleError(
                        ("rules", index, "to", position), f"no destination named {name!r}"
                    )
        return self

    def redacted(self) -> dict[str, Any]:
        """The rules as JSON, webhook secrets left out."""
        body = self.model_dump(mode="json")
        for destination in body["destinations"].values():
            destination["secret"] = REDACTED
        return body


class _RuleError(ValueError):
    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


@dataclass(frozen=True)
class RuleProblem:
    """One thing wrong with uploaded rules, and where."""

    line: int | None
    path: str
    message: str


class RulesInvalid(ValueError):
    """The YAML is not valid routing rules; `problems` name each line."""

    def __init__(self, problems: Sequence[RuleProblem]) -> None:
        super().__init__("; ".join(f"line {p.line}: {p.message}" for p in problems))
        self.problems = list(problems)


def parse_rules(text: str) -> RoutingRules:
    """Routing rules from YAML; raises RulesInvalid naming the line of each problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise RulesInvalid([RuleProblem(line, "", f"not YAML: {exc.problem}")]) from None
    except yaml.YAMLError:
        raise RulesInvalid([RuleProblem(None, "", "not YAML")]) from None
    lines = _lines(root)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RulesInvalid([RuleProblem(1, "", "expected a mapping with destinations and rules")])
    try:
        return RoutingRules.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            cause = error.get("ctx", {}).get("error")
            if isinstance(cause, _RuleError):
                loc, message = cause.loc, cause.message
            else:
                message = error["msg"]
            problems.append(RuleProblem(_line_of(lines, loc), _dotted(loc), message))
        raise RulesInvalid(problems) from None


def _lines(node: yaml.Node | None, path: tuple[str | int, ...] = ()) -> dict[tuple[Any, ...], int]:
    """The line (1-based) where each path's value starts."""
    if node is None:
        return {}
    found = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value
            found[(*path, name)] = key.start_mark.line + 1
            found.update(
                {k: v for k, v in _lines(value, (*path, name)).items() if k != (*path, name)}
            )
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.update(_lines(item, (*path, index)))
    return found


def _line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


@dataclass(frozen=True)
class ClusterFigures:
    """What a rule needs to know about a cluster at the moment a message joined it."""

    cluster_id: str
    intent: Intent
    size: int
    """Distinct visible messages now."""
    at: datetime
    """When the message that joined it was said."""
    size_before: dict[int, int]
    """Window in minutes -> distinct messages said at or before `at - window`."""
    negative: dict[int, tuple[int, int, int, int]]
    """Window -> (negative in window, all in window, negative before, all before)."""


@dataclass(frozen=True)
class Match:
    """A rule fired for a cluster; `key` makes it fire once."""

    rule: Rule
    trigger: Trigger
    key: str
    detail: dict[str, Any]

    @property
    def kind(self) -> str:
        """`content_idea` for praise and UGC routed to SMM, else `alert` or `insight`."""
        return str(self.detail["kind"])


def windows(rules: RoutingRules) -> set[int]:
    """The windows (minutes) the rules look back over."""
    return {r.window_minutes for r in rules.rules if r.trigger is not Trigger.SIZE}


def matches(rules: RoutingRules, figures: ClusterFigures) -> list[Match]:
    """Every rule that fires for the cluster now, each with the key that keeps it once."""
    fired = []
    for rule in rules.rules:
        if rule.intents and figures.intent not in rule.intents:
            continue
        if figures.intent is Intent.OTHER or figures.size < rule.min_size:
            continue
        detail: dict[str, Any] | None = None
        key = f"{rule.name}:{figures.cluster_id}:{rule.trigger.value}"
        if rule.trigger is Trigger.SIZE:
            detail = {"size": figures.size}
        elif rule.trigger is Trigger.SPIKE:
            before = figures.size_before.get(rule.window_minutes, 0)
            if before > 0 and figures.size >= rule.factor * before:
                detail = {
                    "size": figures.size,
                    "size_before": before,
                    "growth": figures.size / before,
                }
        else:
            neg, now, neg_before, before = figures.negative.get(rule.window_minutes, (0, 0, 0, 0))
            if now >= rule.min_size and before >= rule.min_size:
                share, share_before = neg / now, neg_before / before
                if abs(share - share_before) >= rule.swing:
                    detail = {"negative_share": share, "negative_share_before": share_before}
        if detail is None:
            continue
        if rule.trigger is not Trigger.SIZE:
            window = timedelta(minutes=rule.window_minutes)
            bucket = int(figures.at.timestamp() // window.total_seconds())
            key = f"{key}:{bucket}"
            detail["window_minutes"] = rule.window_minutes
        content = rule.team is Team.SMM and figures.intent in CONTENT_INTENTS
        detail["kind"] = (
            "content_idea" if content else ("alert" if rule.when is Delivery.INSTANT else "insight")
        )
        fired.append(Match(rule=rule, trigger=rule.trigger, key=key, detail=detail))
    return fired


def digest_period(delivery: Delivery, at: datetime) -> tuple[str, datetime]:
    """The digest period holding `at` (`2026-12-04` or `2026-W49`) and when it ends."""
    day = datetime(at.year, at.month, at.day, tzinfo=at.tzinfo)
    if delivery is Delivery.DAILY:
        return day.date().isoformat(), day + timedelta(days=1)
    year, week, weekday = at.isocalendar()
    start = day - timedelta(days=weekday - 1)
    return f"{year}-W{week:02d}", start + timedelta(days=7)
