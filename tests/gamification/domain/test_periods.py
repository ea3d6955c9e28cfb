"""Calendar periods in a community's time zone."""

from datetime import UTC, datetime

from services.gamification.domain.periods import Period, bounds


def test_a_day_starts_at_local_midnight() -> None:
    start, end = bounds(Period.DAY, datetime(2026, 6, 1, 23, 30, tzinfo=UTC), "Europe/Berlin")
    # 23:30 UTC is already 2 June in Berlin (UTC+2 in summer).
    assert start == datetime(2026, 6, 1, 22, 0, tzinfo=UTC)
    assert end == datetime(2026, 6, 2, 22, 0, tzinfo=UTC)


def test_the_day_clocks_go_back_lasts_25_hours() -> None:
    start, end = bounds(Period.DAY, datetime(2026, 10, 25, 12, tzinfo=UTC), "Europe/Berlin")
    assert (end - start).total_seconds() == 25 * 3600


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    at = datetime(2026, 12, 3, 12, tzinfo=UTC)  # a Thursday
    assert bounds(Period.WEEK, at, "UTC") == (
        datetime(2026, 11, 30, tzinfo=UTC),
        datetime(2026, 12, 7, tzinfo=UTC),
    )
    assert bounds(Period.MONTH, at, "UTC") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
