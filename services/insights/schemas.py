"""Request and response models of the insights API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.insights.domain.intents import Intent
from services.insights.domain.summary import Direction

MAX_ANALYZE_ITEMS = 5_000


class AnalyzeItem(BaseModel):
    """One message of an export: your id for it and its text."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256)
    text: str = Field(min_length=1, max_length=10_000)


class AnalyzeIn(BaseModel):
    """Messages to cluster; nothing is stored."""

    model_config = ConfigDict(extra="forbid")

    items: list[AnalyzeItem] = Field(
        min_length=1, description=f"at most {MAX_ANALYZE_ITEMS:,} items (more is 413)"
    )


class AnalyzedCluster(BaseModel):
    """A cluster of the analysed messages."""

    id: str = Field(description="c1, c2, … by size, biggest first; stable within one answer")
    label: str = Field(description="top keywords, in each language the cluster is written in")
    keywords: list[str]
    intent: Intent = Field(description="the most frequent intent of its messages")
    items: list[str] = Field(description="ids of its messages, in the order they were sent")


class AnalyzeOut(BaseModel):
    """Every message lands in exactly one cluster."""

    clusters: list[AnalyzedCluster]


class Representative(BaseModel):
    """A message close to the cluster's centre, linked to the community event it came from."""

    event_id: str = Field(description="Hearth's community event id (the CloudEvent id)")
    source_event_id: str | None = Field(description="the platform's own message id")
    platform: str
    channel_id: str | None
    member_id: str | None
    text: str
    occurred_at: datetime


class SentimentMix(BaseModel):
    """Distinct messages of the cluster by sentiment (near-identical repeats count once)."""

    negative: int
    neutral: int
    positive: int


class TrendOut(BaseModel):
    """Distinct messages in the window ending at `as_of`, against the window before."""

    window_days: float
    as_of: datetime | None = Field(
        description="the end of the current window, as the request named it; null: the "
        "time of the request"
    )
    current: int = Field(description="distinct messages in (as_of - window, as_of]")
    previous: int = Field(description="distinct messages in the window before that")
    change: float | None = Field(
        description="(current - previous) / previous; null when the previous window was empty"
    )
    direction: Direction = Field(
        description="new (nothing before), rising, steady, falling, quiet (nothing in either)"
    )


class ChannelOut(BaseModel):
    """Where the cluster was said: messages per platform channel (repeats included)."""

    platform: str
    channel_id: str | None
    messages: int


class StoredCluster(BaseModel):
    """A cluster of a community's feedback, as it stands now."""

    id: str = Field(description="stable: it never changes while the cluster exists")
    label: str
    keywords: list[str]
    intent: Intent
    size: int = Field(description="distinct messages (near-identical ones count once)")
    messages: int = Field(description="messages linked, near-identical repeats included")
    members: int = Field(description="distinct members: each voice counts once")
    representatives: list[Representative] = Field(description="up to 3, closest first")
    first_at: datetime
    last_at: datetime
    sentiment: SentimentMix
    trend: TrendOut
    platforms: list[str] = Field(description="platforms it was said on, most messages first")
    channels: list[ChannelOut] = Field(description="channels it was said in, most messages first")
    core_share: float | None = Field(
        description="share of its members who are core members now (gamification's core "
        "member changes); null while the community's core is unknown"
    )
    aliases: list[str] = Field(
        default_factory=list, description="ids of clusters merged into this one (still valid)"
    )


class ClusterDetail(StoredCluster):
    """A cluster with every visible message linked to it."""

    messages_linked: list[Representative] = Field(
        description="oldest first, near-identical repeats included"
    )


class ClusterList(BaseModel):
    """A community's feedback clusters, biggest first."""

    items: list[StoredCluster]
