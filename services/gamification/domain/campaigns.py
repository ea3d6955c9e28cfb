"""Campaigns (contests, AMAs, UGC challenges) as values: what a campaign is, what counts
as an entry or a vote, and who wins.

Pure: the service stores entries and votes as they arrive and asks `standings` for the
order at any time and `winners` at the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_TAG = re.compile(r"#([\w-]{1,64})", re.UNICODE)


class EntryBy(StrEnum):
    """How a message is recognised as an entry."""

    TAG = "tag"
    CHANNEL = "channel"
    THREAD = "thread"


class Scoring(StrEnum):
    """How entries are ranked."""

    ENTRIES = "entries"
    """members by how many entries they posted"""
    VOTES = "votes"
    """entries by how many distinct members reacted to them (never their author)"""
    JURY = "jury"
    """entries in the order a jury picked them"""


class CampaignSpec(BaseModel):
    """A campaign as its organisers define it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    platform: str = Field(
        pattern=r"^(discord|telegram|slack|github|discourse)$",
        description="where it runs, and where announcements and roles are sent",
    )
    starts_at: datetime
    ends_at: datetime
    channels: list[str] = Field(
        default_factory=list, max_length=100, description="eligible channels; empty: any"
    )
    entry_by: EntryBy = Field(default=EntryBy.TAG, description="how entries are recognised")
    tag: str | None = Field(
        default=None,
        pattern=r"^[\w-]{1,64}$",
        description="for entry_by=tag: `contest` for #contest",
    )
    thread_id: str | None = Field(default=None, max_length=64, description="for entry_by=thread")
    scoring: Scoring = Scoring.VOTES
    vote_emoji: list[str] = Field(
        default_factory=list, max_length=20, description="reactions that count as votes; empty: any"
    )
    winners: int = Field(default=3, ge=1, le=100)
    multiplier: float = Field(
        default=1.0,
        ge=1,
        le=10,
        description="points earned in its channels while it runs are multiplied, before caps",
    )
    winner_role: str | None = Field(
        default=None, max_length=64, description="platform role granted to each winner"
    )
    announce_channel: str | None = Field(
        default=None, max_length=64, description="where the start and the winners are announced"
    )

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2027-01-01T00:00:00Z")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.entry_by is EntryBy.TAG and self.tag is None:
            raise ValueError("entry_by=tag needs a tag")
        if self.entry_by is EntryBy.THREAD and self.thread_id is None:
            raise ValueError("entry_by=thread needs a thread_id")
        if self.entry_by is EntryBy.CHANNEL and not self.channels:
            raise ValueError("entry_by=channel needs channels")
        return self

    def running_at(self, at: datetime) -> bool:
        """Whether `at` falls in [starts_at, ends_at)."""
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True)
class Post:
    """What entry recognition needs of a message."""

    platform: str
    channel_id: str | None
    thread_id: str | None
    text: str | None
    occurred_at: datetime


def tags_of(text: str | None) -> set[str]:
    """The #tags of a text, lower-cased."""
    return {match.lower() for match in _TAG.findall(text or "")}


def is_entry(spec: CampaignSpec, post: Post) -> bool:
    """Whether a message is an entry of the campaign."""
    if post.platform != spec.platform or not spec.running_at(post.occurred_at):
        return False
    if spec.channels and post.channel_id not in spec.channels:
        return False
    if spec.entry_by is EntryBy.THREAD:
        return post.thread_id == spec.thread_id
    if spec.entry_by is EntryBy.TAG:
        return spec.tag is not None and spec.tag.lower() in tags_of(post.text)
    return True


def counts_as_vote(
    spec: CampaignSpec,
    *,
    voter: str | None,
    author: str | None,
    channel_id: str | None,
    emoji: str | None,
    at: datetime,
) -> bool:
    """Whether a reaction may be a vote: while it runs, in its channels, by a known member
    who is not the author, an allowed emoji. It counts once its message is an entry (the
    author is checked again then); one vote per member per entry is the store's key."""
    if voter is None or voter == author or not spec.running_at(at):
        return False
    if spec.channels and channel_id not in spec.channels:
        return False
    return not spec.vote_emoji or emoji in spec.vote_emoji


def multiplier_at(
    specs: Iterable[CampaignSpec], platform: str, channel_id: str | None, at: datetime
) -> float:
    """The highest multiplier of the campaigns running at `at` where the activity is."""
    found = 1.0
    for spec in specs:
        if spec.platform != platform or not spec.running_at(at):
            continue
        if spec.channels and channel_id not in spec.channels:
            continue
        found = max(found, spec.multiplier)
    return found


def multiplied(points: int, multiplier: float) -> int:
    """Points times a multiplier, rounded half up (the same on every replay)."""
    if multiplier == 1.0:
        return points
    return int(points * multiplier + 0.5)


@dataclass(frozen=True)
class Entry:
    """An entry as stored, with its distinct voters and jury pick (1 = first choice)."""

    entry_id: str
    member_id: str
    posted_at: datetime
    votes: int = 0
    jury_rank: int | None = None


@dataclass(frozen=True)
class Standing:
    """A place in a campaign: the entry (or, when counting entries, the member's first)."""

    place: int
    member_id: str
    entry_id: str
    score: int


def standings(spec: CampaignSpec, entries: Iterable[Entry]) -> list[Standing]:
    """Everyone's place, best first; ties go to whoever posted first."""
    found = list(entries)
    if spec.scoring is Scoring.ENTRIES:
        per_member: dict[str, list[Entry]] = {}
        for entry in sorted(found, key=lambda e: (e.posted_at, e.entry_id)):
            per_member.setdefault(entry.member_id, []).append(entry)
        ranked = sorted(
            per_member.values(), key=lambda own: (-len(own), own[0].posted_at, own[0].entry_id)
        )
        return [
            Standing(place, own[0].member_id, own[0].entry_id, len(own))
            for place, own in enumerate(ranked, start=1)
        ]
    if spec.scoring is Scoring.JURY:
        picked = sorted(
            (e for e in found if e.jury_rank is not None),
            key=lambda e: (e.jury_rank or 0, e.posted_at, e.entry_id),
        )
        return [
            Standing(place, e.member_id, e.entry_id, e.jury_rank or 0)
            for place, e in enumerate(picked, start=1)
        ]
    ranked_entries = sorted(found, key=lambda e: (-e.votes, e.posted_at, e.entry_id))
    return [
        Standing(place, e.member_id, e.entry_id, e.votes)
        for place, e in enumerate(ranked_entries, start=1)
    ]


def winners(spec: CampaignSpec, entries: Sequence[Entry]) -> list[Standing]:
    """The first `spec.winners` places, one per member (a member's best entry counts)."""
    crowned: list[Standing] = []
    seen: set[str] = set()
    for standing in standings(spec, entries):
        if standing.member_id in seen or standing.score <= 0:
            continue
        seen.add(standing.member_id)
        crowned.append(
            Standing(len(crowned) + 1, standing.member_id, standing.entry_id, standing.score)
        )
        if len(crowned) == spec.winners:
            break
    return crowned


def announcement(spec: CampaignSpec, crowned: Sequence[Standing]) -> str:
    """The winners' announcement (member ids; the connector renders mentions)."""
    if not crowned:
        return f"{spec.name} has ended. There were no eligible entries."
    places = ", ".join(f"{s.place}. <@{s.member_id}> ({s.score})" for s in crowned)
    return f"{spec.name} has ended. Winners: {places}"
