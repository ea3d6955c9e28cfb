"""Streaks count local days or ISO weeks in the community's time zone, with a grace."""

from datetime import UTC, datetime

from services.gamification.domain import streaks

BERLIN = "Europe/Berlin"


def days(*instants: datetime, zone: str = BERLIN) -> list[int]:
    return [streaks.period_index(at, "day", zone) for at in instants]


def test_a_streak_across_the_end_of_summer_time_counts_local_days() -> None:
    # Berlin leaves summer time on 25 October 2026 (03:00 CEST → 02:00 CET): that day has
    # 25 hours. 23:30 on the 24th and on the 25th, then 00:10 on the 26th, local time.
    evenings = (
        datetime(2026, 10, 24, 21, 30, tzinfo=UTC),  # 23:30 CEST on the 24th
        datetime(2026, 10, 25, 22, 30, tzinfo=UTC),  # 23:30 CET on the 25th
        datetime(2026, 10, 25, 23, 10, tzinfo=UTC),  # 00:10 CET on the 26th
    )
    assert streaks.longest(days(*evenings), grace=0) == 3
    # The same instants in UTC fall on two days only.
    assert streaks.longest(days(*evenings, zone="UTC"), grace=0) == 2


def test_a_streak_across_the_start_of_summer_time() -> None:
    # 29 March 2026 lasts 23 hours in Berlin: 00:30 local on the 29th is 23:30 UTC on the 28th.
    nights = (
        datetime(2026, 3, 27, 23, 30, tzinfo=UTC),  # 00:30 CET on the 28th
        datetime(2026, 3, 28, 23, 30, tzinfo=UTC),  # 00:30 CET on the 29th
        datetime(2026, 3, 29, 22, 30, tzinfo=UTC),  # 00:30 CEST on the 30th
    )
    assert streaks.longest(days(*nights), grace=0) == 3
    assert [streaks.period_start(i, "day").day for i in days(*nights)] == [28, 29, 30]


def test_grace_lets_a_missed_day_pass_without_counting_it() -> None:
    active = [1, 2, 4, 5, 8]
    assert streaks.longest(active, grace=0) == 2
    assert streaks.longest(active, grace=1) == 4  # 1, 2, (3 missed), 4, 5; 6 and 7 break it
    assert streaks.longest(active, grace=2) == 5
    assert streaks.current(active, grace=1, now=9) == 1
    assert streaks.current(active, grace=1, now=11) == 0


def test_weeks_start_on_monday_in_the_local_zone() -> None:
    # Sunday 23:30 in Los Angeles is Monday in UTC: the same local week as the Monday before.
    monday = datetime(2026, 11, 2, 18, 0, tzinfo=UTC)  # Monday 10:00 PST
    sunday_night = datetime(2026, 11, 9, 7, 30, tzinfo=UTC)  # Sunday 23:30 PST
    next_monday = datetime(2026, 11, 9, 18, 0, tzinfo=UTC)
    zone = "America/Los_Angeles"
    weeks = [streaks.period_index(at, "week", zone) for at in (monday, sunday_night, next_monday)]
    assert weeks[0] == weeks[1] and weeks[2] == weeks[1] + 1
    assert streaks.period_start(weeks[0], "week").isoformat() == "2026-11-02"
    assert streaks.longest(weeks, grace=0) == 2
