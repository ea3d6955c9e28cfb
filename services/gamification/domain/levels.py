"""Levels from points: MEE6's curve, 5L² + 50L + 100 XP to go from level L to L + 1."""

from __future__ import annotations

from dataclasses import dataclass


def xp_to_next(level: int) -> int:
    """XP needed to go from `level` to `level + 1`."""
    return 5 * level * level + 50 * level + 100


@dataclass(frozen=True)
class Progress:
    """Where a member stands: their level and how far they are into it."""

    level: int
    xp_into_level: int
    xp_for_next_level: int

    @property
    def fraction(self) -> float:
        """How far into the current level, from 0 to just under 1."""
        return self.xp_into_level / self.xp_for_next_level


def progress(points: int) -> Progress:
    """The level reached with `points` (negative totals count as none)."""
    level, left = 0, max(points, 0)
    while left >= xp_to_next(level):
        left -= xp_to_next(level)
        level += 1
    return Progress(level=level, xp_into_level=left, xp_for_next_level=xp_to_next(level))
