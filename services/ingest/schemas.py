"""Request and response models of the ingest API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.ingest.domain.incoming import ActorIn, EventIn

__all__ = ["MAX_BATCH", "ActorIn", "BatchIn", "EventIn"]

MAX_BATCH = 1000


class BatchIn(BaseModel):
    """Up to 1,000 events; each is accepted or rejected on its own."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)
