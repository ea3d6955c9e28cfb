"""The sanctions ladder: strikes expire after their window, the count picks the step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.moderation.domain.rules import RulesError, parse_rules
from services.moderation.domain.sanctions import (
    SanctionKind,
    Sanctions,
    SanctionStep,
    active_strikes,
    sanction_for,
)

LADDER = Sanctions(
    strike_expiry_seconds=3600,
    ladder=[
        SanctionStep(strikes=1, action=SanctionKind.WARN),
        SanctionStep(strikes=3, action=SanctionKind.MUTE, duration_seconds=600),
        SanctionStep(strikes=5, action=SanctionKind.BAN),
    ],
)
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_the_count_of_strikes_climbs_the_ladder() -> None:
    earned = [sanction_for(LADDER, n) for n in range(7)]
    assert [None if s is None else (s.action, s.duration_seconds) for s in earned] == [
        None,
        (SanctionKind.WARN, None),
        (SanctionKind.WARN, None),  # the second strike repeats the warning
        (SanctionKind.MUTE, 600),
        (SanctionKind.MUTE, 600),
        (SanctionKind.BAN, None),
        (SanctionKind.BAN, None),
    ]


def test_without_a_ladder_strikes_earn_nothing() -> None:
    assert sanction_for(None, 10) is None


def test_strikes_older_than_the_window_no_longer_count() -> None:
    times = [NOW - timedelta(minutes=m) for m in (90, 61, 59, 10, 0)]
    assert active_strikes(times, NOW, 3600) == 3
    # exactly at the edge: expired; a strike after `at` (a later message) is not counted
    assert active_strikes([NOW - timedelta(hours=1), NOW + timedelta(seconds=1)], NOW, 3600) == 0
    # naive times (as SQLite reads them back) are UTC
    assert active_strikes([datetime(2026, 12, 4, 11, 30)], NOW, 3600) == 1


def test_two_expired_strikes_and_a_new_one_only_warn() -> None:
    times = [NOW - timedelta(hours=2), NOW - timedelta(hours=1, minutes=30), NOW]
    step = sanction_for(LADDER, active_strikes(times, NOW, LADDER.strike_expiry_seconds))
    assert step is not None and step.action == SanctionKind.WARN


def test_the_ladder_is_read_from_the_rules_yaml() -> None:
    rules = parse_rules(
        "sanctions:\n"
        "  strike_expiry_seconds: 86400\n"
        "  ladder:\n"
        "    - {strikes: 2, action: warn}\n"
        "    - {strikes: 3, action: mute, duration_seconds: 3600}\n"
    )
    assert rules.sanctions is not None
    assert rules.sanctions.strike_expiry_seconds == 86400
    assert [s.action for s in rules.sanctions.ladder] == [SanctionKind.WARN, SanctionKind.MUTE]
    assert parse_rules("rules: []\n").sanctions is None


@pytest.mark.parametrize(
    ("ladder", "line", "message"),
    [
        ("    - {strikes: 3, action: mute}\n", 3, "a mute needs duration_seconds"),
        ("    - {strikes: 1, action: ban, duration_seconds: 5}\n", 3, "only a mute has"),
        ("    - {strikes: 1, action: kick}\n", 3, "Input should be 'warn', 'mute' or 'ban'"),
        (
            "    - {strikes: 3, action: warn}\n    - {strikes: 2, action: ban}\n",
            1,  # a problem of the whole section: the line where it starts
            "strictly increasing",
        ),
    ],
)
def test_a_bad_ladder_is_refused_with_its_line(ladder: str, line: int, message: str) -> None:
    with pytest.raises(RulesError) as raised:
        parse_rules("sanctions:\n  ladder:\n" + ladder)
    error = raised.value.errors[0]
    assert message in error.message
    assert error.line == line
