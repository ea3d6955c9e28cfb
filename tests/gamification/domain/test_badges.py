"""Badges in the ruleset: validation, who qualifies, and what a recheck withdraws."""

from datetime import UTC, datetime, timedelta

import pytest

from services.gamification.domain import badges
from services.gamification.domain.badges import Change, Earning, Standing
from services.gamification.domain.rules import InvalidRuleset, parse_ruleset

RULES = """\
time_zone: Europe/Berlin
rules:
  - id: message
    event: community.message.created
    points: 10
  - id: answer
    event: community.answer.accepted
    to: receiver
    points: 50
badges:
  - id: first-words
    kind: first
    rules: [message]
  - id: helper
    kind: threshold
    rules: [answer]
    tiers: {bronze: 50, silver: 150, gold: 500}
    revoke: recheck
  - id: regular
    kind: streak
    per: day
    length: 3
    grace: 1
  - id: launch
    kind: time_bounded
    starts: 2026-11-01T00:00:00Z
    ends: 2026-11-08T00:00:00Z
    points: 20
"""

RULESET = parse_ruleset(RULES)
BADGES = {badge.id: badge for badge in RULESET.badges}
T0 = datetime(2026, 11, 2, 12, tzinfo=UTC)


def test_badges_are_validated_with_the_line_of_the_problem() -> None:
    for broken, line in (
        (RULES.replace("rules: [message]", "rules: [mesage]"), 13),
        (RULES.replace("silver: 150", "silver: 40"), 17),
        (RULES.replace("    per: day\n", ""), 19),
        (RULES.replace("    grace: 1\n", "    grace: 1\n    tiers: {gold: 1}\n"), 19),
        (RULES.replace("ends: 2026-11-08", "ends: 2026-10-08"), 24),
    ):
        with pytest.raises(InvalidRuleset) as caught:
            parse_ruleset(broken)
        assert [p.line for p in caught.value.problems] == [line], caught.value.problems
    with pytest.raises(InvalidRuleset, match="badge id 'helper' is used twice"):
        parse_ruleset(RULES + "  - id: helper\n    kind: first\n")


def test_threshold_tiers_follow_the_points_of_their_rules() -> None:
    helper = BADGES["helper"]
    assert badges.held(helper, Standing(total=1000, by_rule={"message": 1000}), "UTC") == set()
    standing = Standing(total=200, by_rule={"message": 40, "answer": 160})
    assert badges.held(helper, standing, "UTC") == {"bronze", "silver"}
    assert badges.changes(helper, {"bronze", "silver"}, {"bronze": True}) == [
        Change("helper", "silver", awarded=True)
    ]
    # Recheck: an answer revoked takes silver away; keep would have left it.
    assert badges.changes(helper, {"bronze"}, {"bronze": True, "silver": True}) == [
        Change("helper", "silver", awarded=False)
    ]
    first = BADGES["first-words"]
    assert badges.held(first, Standing(total=0, by_rule={"message": 0}), "UTC") == set()
    assert badges.changes(first, set(), {"": True}) == []  # keep: earned once, kept


def test_a_streak_badge_needs_its_length_of_local_days_with_grace() -> None:
    regular = BADGES["regular"]
    on = [T0, T0 + timedelta(days=1), T0 + timedelta(days=3)]  # a day missed, within grace
    earnings = [Earning("message", at, 10) for at in on]
    assert badges.held(regular, Standing(30, {}, earnings), RULESET.time_zone) == {""}
    revoked = [*earnings[:2], Earning("message", on[2], 0)]
    assert badges.held(regular, Standing(20, {}, revoked), RULESET.time_zone) == set()
    lo, hi = badges.window(regular, [T0]) or (T0, T0)
    assert lo <= T0 - timedelta(days=4) and hi >= T0 + timedelta(days=4)


def test_a_time_bounded_badge_counts_only_its_window() -> None:
    launch = BADGES["launch"]
    inside = Earning("message", datetime(2026, 11, 7, 23, tzinfo=UTC), 10)
    outside = Earning("message", datetime(2026, 11, 8, 0, tzinfo=UTC), 10)
    assert badges.held(launch, Standing(20, {}, [inside, outside]), "UTC") == set()
    assert badges.held(launch, Standing(20, {}, [inside, inside]), "UTC") == {""}
    assert badges.window(launch, [outside.earned_at]) is None
    assert badges.window(launch, [inside.earned_at]) is not None


def test_a_ranked_badge_crowns_the_top_of_the_last_closed_local_period() -> None:
    ranked = parse_ruleset(
        RULES + "  - id: top-week\n    kind: ranked\n    per: week\n    top: 2\n"
    ).badges[-1]
    # Monday 00:30 in Berlin is still Sunday in UTC: the closed week is the one before.
    label, start, end = badges.last_period(
        ranked, datetime(2026, 11, 8, 23, 30, tzinfo=UTC), "Europe/Berlin"
    )
    assert label == "2026-W45"
    assert (start, end) == (
        datetime(2026, 11, 1, 23, tzinfo=UTC),
        datetime(2026, 11, 8, 23, tzinfo=UTC),
    )
    best = [("ann", 90), ("bob", 50), ("cyd", 50), ("dee", 10)]
    assert badges.ranked_winners(ranked, best) == ["ann", "bob", "cyd"]  # ties at the cut win
    assert badges.ranked_winners(ranked, [("ann", 0)]) == []
    with pytest.raises(InvalidRuleset, match="is kept"):
        parse_ruleset(
            RULES + "  - id: r\n    kind: ranked\n    per: day\n    top: 1\n    revoke: recheck\n"
        )
