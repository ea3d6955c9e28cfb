"""One community event as an integrator or an importer describes it, before ingest adds ids.

A value of the domain: the export parsers (domain/imports) produce it and the events API
reads it (services/ingest/schemas.py re-exports it), so both accept exactly the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.events.community import CommunityEventType, Content, Platform


class ActorIn(BaseModel):
    """A platform account as an integrator describes it."""

    model_config = ConfigDict(extra="forbid")

    platform_user_id: str = Field(min_length=1, max_length=256)
    username: str | None = Field(default=None, max_length=256)
    display_name: str | None = Field(default=None, max_length=512)
    is_bot: bool = False


class EventIn(BaseModel):
    """One community event sent by an integrator or an importer."""

    model_config = ConfigDict(extra="forbid")

    type: CommunityEventType
    community_id: str = Field(min_length=1)
    platform: Platform = Platform.API
    occurred_at: datetime
    dedup_key: str | None = Field(
        default=None,
        max_length=512,
        description="Stable id of this event at its source; a second event with the same key "
        "in the same community is accepted once. Defaults to platform + source_event_id.",
    )
    source_event_id: str | None = Field(default=None, max_length=256)
    workspace_id: str | None = None
    channel_id: str | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    actor: ActorIn
    object_actor: ActorIn | None = None
    content: Content | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    backfilled: bool = Field(default=False, description="history: moderation never acts on it")
