"""Core members: the top N by points over the window, entering and leaving with hysteresis."""

from services.gamification.domain.core import CoreState, Score, qualifying, step
from services.gamification.domain.rules import Core

CONFIG = Core(
    size=2, min_points=50, min_active_days=2, enter_after=2, leave_after=2, exclude=["staff"]
)


def test_the_top_n_eligible_qualify_staff_and_one_day_bursts_excluded() -> None:
    scores = {
        "staff": Score(900, 10),
        "burst": Score(800, 1),  # one busy day is not engagement
        "ann": Score(300, 5),
        "bob": Score(300, 7),
        "cyd": Score(200, 3),
        "dee": Score(40, 9),  # below min_points
    }
    assert qualifying(CONFIG, scores) == ["bob", "ann"]


def test_members_enter_after_k_evaluations_in_and_leave_after_k_out() -> None:
    states: dict[str, CoreState] = {}
    history = []
    for inside in ({"ann"}, {"ann"}, set(), {"ann"}, set(), set()):
        states, changes = step(CONFIG, inside, states)
        history.append(changes)
    # In twice: enters. Out once, back in: stays. Out twice: leaves.
    assert history == [{}, {"ann": True}, {}, {}, {}, {"ann": False}]
    assert states["ann"] == CoreState(False, 0, 2)
