"""The sanctions ladder: strikes that expire, and the sanction a count of strikes earns.

Pure functions over plain values; the consumer and the review routes store strikes and
send what `sanction_for` answers as a `moderation.actions.v1` command.

    sanctions:
      strike_expiry_seconds: 2592000      # a strike counts for 30 days
      ladder:
        - {strikes: 1, action: warn}
        - {strikes: 3, action: mute, duration_seconds: 3600}
        - {strikes: 5, action: ban}
      severe:                             # a removal for these categories, at once
        threat: {action: ban}
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

THIRTY_DAYS = 30 * 24 * 3600
MAX_MUTE_SECONDS = 366 * 24 * 3600


class SanctionKind(StrEnum):
    """What a step of the ladder does to the member on the platform."""

    WARN = "warn"
    MUTE = "mute"
    BAN = "ban"


_WEIGHT = {SanctionKind.WARN: 0, SanctionKind.MUTE: 1, SanctionKind.BAN: 2}


class Penalty(BaseModel):
    """A sanction: warn, mute for a duration, or ban."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: SanctionKind
    duration_seconds: int | None = Field(
        default=None, ge=1, le=MAX_MUTE_SECONDS, description="how long a mute lasts"
    )

    @model_validator(mode="after")
    def _duration_for_mutes_only(self) -> Penalty:
        if self.action == SanctionKind.MUTE and self.duration_seconds is None:
            raise ValueError("a mute needs duration_seconds")
        if self.action != SanctionKind.MUTE and self.duration_seconds is not None:
            raise ValueError("only a mute has duration_seconds")
        return self

    def weight(self) -> tuple[int, int]:
        """How hard it hits: ban > mute (longer first) > warn."""
        return _WEIGHT[self.action], self.duration_seconds or 0


class SanctionStep(Penalty):
    """From `strikes` active strikes on, this sanction (until a higher step applies)."""

    strikes: int = Field(ge=1, le=1000)


class Sanctions(BaseModel):
    """A community's ladder and how long a strike counts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strike_expiry_seconds: int = Field(default=THIRTY_DAYS, ge=60, le=10 * 366 * 24 * 3600)
    ladder: list[SanctionStep] = Field(default_factory=list, max_length=20)
    severe: dict[str, Penalty] = Field(
        default_factory=dict,
        max_length=50,
        description="a removal for one of these categories (the deciding rule's category or "
        "classifier attribute) earns this sanction at once, or the ladder's if it is harder",
    )

    @model_validator(mode="after")
    def _increasing(self) -> Sanctions:
        counts = [step.strikes for step in self.ladder]
        if counts != sorted(set(counts)):
            raise ValueError("ladder steps need strictly increasing strikes")
        if not self.ladder and not self.severe:
            raise ValueError("sanctions need a ladder or severe categories")
        return self


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one (SQLite reads them so) is taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def active_strikes(times: Iterable[datetime], at: datetime, expiry_seconds: int) -> int:
    """How many strikes given at `times` still count at `at`: those in (at - expiry, at]."""
    at = as_utc(at)
    since = at - timedelta(seconds=expiry_seconds)
    return sum(1 for t in times if since < as_utc(t) <= at)


def sanction_for(
    sanctions: Sanctions | None, strikes: int, category: str | None = None
) -> Penalty | None:
    """The sanction `strikes` active strikes earn: the highest step reached, or None; for a
    severe `category`, its immediate sanction when that is harder.

    Each new strike applies the step it reaches, so a strike beyond the top step
    repeats the top step (a fourth strike on a `mute at 3` ladder mutes again)."""
    if sanctions is None:
        return None
    reached = [step for step in sanctions.ladder if step.strikes <= strikes]
    step: Penalty | None = reached[-1] if reached else None
    severe = sanctions.severe.get(category) if category else None
    if severe is not None and (step is None or severe.weight() > step.weight()):
        return severe
    return step
