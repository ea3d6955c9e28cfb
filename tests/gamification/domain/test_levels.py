"""The MEE6 level curve: 5L² + 50L + 100 XP from level L to L + 1."""

from services.gamification.domain.levels import progress, xp_to_next


def test_the_first_levels_take_100_155_220_xp() -> None:
    assert [xp_to_next(level) for level in range(3)] == [100, 155, 220]


def test_a_member_reaches_a_level_at_exactly_its_threshold() -> None:
    assert progress(99).level == 0
    assert progress(100).level == 1
    assert progress(254).level == 1
    assert progress(255).level == 2


def test_progress_says_how_far_into_the_level() -> None:
    reached = progress(100 + 155 + 110)
    assert (reached.level, reached.xp_into_level, reached.xp_for_next_level) == (2, 110, 220)
    assert reached.fraction == 0.5


def test_a_negative_total_is_level_zero() -> None:
    assert progress(-40).level == 0
    assert progress(-40).xp_into_level == 0
