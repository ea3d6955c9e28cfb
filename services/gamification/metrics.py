"""Metrics of the gamification service (counted when the transaction that made them commits)."""

from __future__ import annotations

from collections import Counter as Counts
from dataclasses import dataclass, field

from prometheus_client import Counter

POINTS_AWARDED_TOTAL = Counter(
    "hearth_gamification_points_awarded_total",
    "Points credited to members by new ledger lines (awards, re-grants and manual grants; "
    "revocations and deductions are not subtracted).",
)
POINTS_REVOKED_TOTAL = Counter(
    "hearth_gamification_points_revoked_total",
    "Points taken back by new ledger lines (revocations and manual deductions), as a "
    "positive number.",
)
BADGES_AWARDED_TOTAL = Counter(
    "hearth_gamification_badges_awarded_total",
    "Badge tiers awarded to members, by badge kind (first, threshold, streak, time_bounded).",
    ["badge_kind"],
)
BADGES_REVOKED_TOTAL = Counter(
    "hearth_gamification_badges_revoked_total",
    "Badge tiers withdrawn by a recheck after their source was revoked, by badge kind.",
    ["badge_kind"],
)
LEVEL_UPS_TOTAL = Counter(
    "hearth_gamification_level_ups_total",
    "Levels members gained (a member going up two levels at once counts two).",
)
CORE_CHANGES_TOTAL = Counter(
    "hearth_gamification_core_changes_total",
    "Members entering or leaving a community's core, by change (entered, left).",
    ["change"],
)


@dataclass
class Tally:
    """What one transaction counted, added to the metrics only once it commits."""

    points: int = 0
    revoked: int = 0
    level_ups: int = 0
    badges: Counts[str] = field(default_factory=Counts)
    withdrawn: Counts[str] = field(default_factory=Counts)
    core: Counts[str] = field(default_factory=Counts)

    def publish(self) -> None:
        """Add the tally to the process's metrics, and start again from zero."""
        if self.points:
            POINTS_AWARDED_TOTAL.inc(self.points)
        if self.revoked:
            POINTS_REVOKED_TOTAL.inc(self.revoked)
        if self.level_ups:
            LEVEL_UPS_TOTAL.inc(self.level_ups)
        for kind, count in self.badges.items():
            BADGES_AWARDED_TOTAL.labels(badge_kind=kind).inc(count)
        for kind, count in self.withdrawn.items():
            BADGES_REVOKED_TOTAL.labels(badge_kind=kind).inc(count)
        for change, count in self.core.items():
            CORE_CHANGES_TOTAL.labels(change=change).inc(count)
        self.clear()

    def clear(self) -> None:
        """Forget what was counted (the transaction rolled back)."""
        self.points = self.revoked = self.level_ups = 0
        self.badges.clear()
        self.withdrawn.clear()
        self.core.clear()
