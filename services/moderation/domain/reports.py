"""Member reports: when enough distinct members report a message, it is hidden pending
review.

    reports:
      hide_at: 3          # distinct reporters that hide the message until a moderator decides
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.events.payloads import Verdict


class ReportSettings(BaseModel):
    """How many distinct members' reports hide a message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hide_at: int = Field(default=3, ge=1, le=1000)


class ReportOutcome(StrEnum):
    """What one report did."""

    DUPLICATE = "duplicate"
    """This member had reported the message already; it counts once."""
    QUEUED = "queued"
    """The message waits for a moderator (flagged), still visible."""
    HIDDEN = "hidden"
    """This report reached `hide_at`: the message is taken down pending review."""
    COUNTED = "counted"
    """Counted; the message was queued, hidden or removed already."""


def outcome_of(
    *,
    new: bool,
    reporters: int,
    verdict: Verdict,
    queued: bool,
    reviewed: bool,
    settings: ReportSettings,
) -> ReportOutcome:
    """What a report does, given the message's current verdict (the automatic one, or
    hide once reports hid it), whether it is queued or a moderator reviewed it already, and
    its distinct reporters (this one included). A moderator's review stands."""
    if not new:
        return ReportOutcome.DUPLICATE
    if reviewed or verdict in (Verdict.HIDE, Verdict.REMOVE):
        return ReportOutcome.COUNTED
    if reporters >= settings.hide_at:
        return ReportOutcome.HIDDEN
    if queued:
        return ReportOutcome.COUNTED
    return ReportOutcome.QUEUED
