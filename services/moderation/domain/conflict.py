"""Conflict detection: a channel or thread heating up before it becomes a flame war.

Pure functions over the messages of one conversation (a thread, else a channel) in the
window up to a new message; the handler reads the window, asks `detect` and publishes
what it answers as `moderation.conflict.detected`.

    conflicts:
      window_seconds: 600        # the window looked at, up to each new message
      min_messages: 6            # toxicity and flagged share need this many messages
      toxicity: 0.5              # mean toxicity of the window's messages
      flagged_share: 0.3         # share of the window's messages not allowed
      pair_replies: 8            # replies between the same two members in the window
      pair_toxicity: 0.3         # ... whose mean toxicity is at least this
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

MAX_MEMBERS = 5
"""Members named in an alert about a whole conversation (the most involved first)."""


class ConflictKind(StrEnum):
    """What rose over the window."""

    TOXICITY = "toxicity"
    FLAGGED_SHARE = "flagged_share"
    PAIR_REPLIES = "pair_replies"


class ConflictSettings(BaseModel):
    """A community's thresholds; `enabled: false` turns the alerts off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    window_seconds: int = Field(default=600, ge=60, le=86_400)
    min_messages: int = Field(default=6, ge=2, le=10_000)
    toxicity: float = Field(default=0.5, gt=0, le=1)
    flagged_share: float = Field(default=0.3, gt=0, le=1)
    pair_replies: int = Field(default=8, ge=2, le=10_000)
    pair_toxicity: float = Field(default=0.3, ge=0, le=1)


@dataclass(frozen=True, slots=True)
class Said:
    """One message of the conversation, as conflict detection sees it."""

    author: str
    reply_to: str | None
    toxicity: float
    flagged: bool
    """The verdict was not allow."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """An alert: what was measured, the threshold it reached, who is involved."""

    kind: ConflictKind
    value: float
    threshold: float
    members: list[str]
    messages: int


def _most_involved(window: Sequence[Said], hot: Sequence[Said]) -> list[str]:
    counts = Counter(said.author for said in hot) or Counter(said.author for said in window)
    return [author for author, _ in counts.most_common(MAX_MEMBERS)]


def detect(window: Sequence[Said], latest: Said, settings: ConflictSettings) -> list[Conflict]:
    """The conflicts the conversation shows once `latest` (included in `window`) is said."""
    if not settings.enabled or not window:
        return []
    found: list[Conflict] = []
    if len(window) >= settings.min_messages:
        mean = sum(said.toxicity for said in window) / len(window)
        if mean >= settings.toxicity:
            toxic = [s for s in window if s.toxicity >= settings.toxicity]
            found.append(
                Conflict(
                    ConflictKind.TOXICITY,
                    round(mean, 4),
                    settings.toxicity,
                    _most_involved(window, toxic),
                    len(window),
                )
            )
        flagged = [said for said in window if said.flagged]
        share = len(flagged) / len(window)
        if share >= settings.flagged_share:
            found.append(
                Conflict(
                    ConflictKind.FLAGGED_SHARE,
                    round(share, 4),
                    settings.flagged_share,
                    _most_involved(window, flagged),
                    len(window),
                )
            )
    if latest.reply_to is not None and latest.reply_to != latest.author:
        pair = {latest.author, latest.reply_to}
        exchange = [s for s in window if s.reply_to is not None and {s.author, s.reply_to} == pair]
        if len(exchange) >= settings.pair_replies:
            mean = sum(said.toxicity for said in exchange) / len(exchange)
            if mean >= settings.pair_toxicity:
                found.append(
                    Conflict(
                        ConflictKind.PAIR_REPLIES,
                        len(exchange),
                        settings.pair_replies,
                        sorted(pair),
                        len(window),
                    )
                )
    return found
