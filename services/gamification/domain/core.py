"""Core members: who qualifies in an evaluation, and who enters or leaves (hysteresis)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.gamification.domain.rules import Core


@dataclass(frozen=True)
class Score:
    """A member's engagement over the window: points, and distinct local days active."""

    points: int
    active_days: int


@dataclass(frozen=True)
class CoreState:
    """Whether a member is core, and how many evaluations in a row they were in or out."""

    core: bool = False
    streak_in: int = 0
    streak_out: int = 0


def qualifying(config: Core, scores: Mapping[str, Score]) -> list[str]:
    """The top `size` eligible members, best first (ties: more active days, then member id)."""
    eligible = [
        (member, score)
        for member, score in scores.items()
        if member not in config.exclude
        and score.points >= config.min_points
        and score.active_days >= config.min_active_days
    ]
    eligible.sort(key=lambda item: (-item[1].points, -item[1].active_days, item[0]))
    return [member for member, _ in eligible[: config.size]]


def step(
    config: Core, inside: set[str], states: Mapping[str, CoreState]
) -> tuple[dict[str, CoreState], dict[str, bool]]:
    """Every member's state after one evaluation, and the changes (member → now core)."""
    after: dict[str, CoreState] = {}
    changes: dict[str, bool] = {}
    for member in sorted(inside | set(states)):
        state = states.get(member, CoreState())
        if member in inside:
            state = CoreState(state.core, state.streak_in + 1, 0)
        else:
            state = CoreState(state.core, 0, state.streak_out + 1)
        if not state.core and state.streak_in >= config.enter_after:
            state = CoreState(True, state.streak_in, 0)
            changes[member] = True
        elif state.core and state.streak_out >= config.leave_after:
            state = CoreState(False, 0, state.streak_out)
            changes[member] = False
        after[member] = state
    return after, changes
