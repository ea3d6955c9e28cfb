"""Request and response models of the moderation API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.events.payloads import Verdict


class RulesOut(BaseModel):
    """A community's active rules."""

    community_id: str
    version: int = Field(description="1, 2, ... per upload; 0 is Hearth's default ruleset")
    default: bool = Field(description="true while the community has not set rules of its own")
    created_at: datetime | None = None
    source: str = Field(description="the YAML as uploaded")
    rules: dict[str, Any] = Field(description="the rules as parsed, defaults filled in")


class Author(BaseModel):
    """Who would have written the text, for exemptions."""

    model_config = ConfigDict(extra="forbid")

    member_id: str | None = Field(default=None, max_length=64)
    platform_user_id: str | None = Field(default=None, max_length=256)
    username: str | None = Field(default=None, max_length=256)
    roles: list[str] = Field(default_factory=list, max_length=100)
    channel_id: str | None = Field(default=None, max_length=256)


class EvaluateIn(BaseModel):
    """A text to judge without storing anything."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=100_000)
    community_id: str | None = Field(
        default=None, max_length=64, description="whose rules apply; Hearth's default without it"
    )
    author: Author | None = None
    links: list[str] = Field(default_factory=list, max_length=100)
    mentions: list[str] = Field(default_factory=list, max_length=1000)


class ReasonOut(BaseModel):
    """One rule that matched."""

    rule: str
    action: str = Field(description="flag, hide or remove")
    reason: str
    category: str


class EvaluateOut(BaseModel):
    """What the rules say about the text."""

    verdict: Verdict
    scores: dict[str, float] = Field(
        description="per category, 0-1: the classifier's attributes (toxicity, insult, "
        "threat, profanity, sexual, spam) and the rules' categories, the higher of the two"
    )
    reasons: list[ReasonOut]
    language: str = Field(description="en, ru or und, by the letters used")
    rules_version: int
    model_version: str | None = Field(
        default=None, description="the classifier model that scored the text (null when off)"
    )
    timed_out: list[str] = Field(
        description="rules whose pattern was cut off by its time bound (counted as no match)"
    )
