"""Which boards a line counts on (calendar buckets in the community's time zone), dense ranks."""

from __future__ import annotations

from datetime import UTC, datetime

from services.gamification.domain.leaderboard import (
    Board,
    Line,
    Period,
    block_changes,
    boards_of,
    bucket,
    deltas,
    dense_ranks,
    score_changes,
)


def test_buckets_follow_the_local_calendar_not_utc() -> None:
    # 23:30 UTC on New Year's Eve is already 2027 in Tokyo, and that Friday is in ISO
    # week 53 of 2026.
    at = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert [bucket(p, at, "Asia/Tokyo") for p in Period] == [
        "all",
        "2027",
        "2027-01",
        "2026-W53",
        "2027-01-01",
    ]
    assert [bucket(p, at, "UTC") for p in Period] == [
        "all",
        "2026",
        "2026-12",
        "2026-W53",
        "2026-12-31",
    ]


def test_a_day_across_a_dst_change_keeps_local_midnights() -> None:
    # Berlin springs forward on 2026-03-29: that day runs from 23:00 UTC the day before
    # to 22:00 UTC, 23 hours.
    zone = "Europe/Berlin"
    assert bucket(Period.DAY, datetime(2026, 3, 28, 22, 59, tzinfo=UTC), zone) == "2026-03-28"
    assert bucket(Period.DAY, datetime(2026, 3, 28, 23, 0, tzinfo=UTC), zone) == "2026-03-29"
    assert bucket(Period.DAY, datetime(2026, 3, 29, 21, 59, tzinfo=UTC), zone) == "2026-03-29"
    assert bucket(Period.DAY, datetime(2026, 3, 29, 22, 0, tzinfo=UTC), zone) == "2026-03-30"


def test_a_line_counts_community_wide_and_in_its_channel() -> None:
    at = datetime(2026, 11, 2, 8, tzinfo=UTC)
    boards = boards_of("t", "c", "help", at, "UTC")
    assert len(boards) == 10
    for zone in ("Asia/Tokyo", "America/New_York", "Europe/Berlin"):
        for instant in (at, datetime(2026, 12, 31, 23, 30, tzinfo=UTC)):
            assert {(b.period, b.bucket) for b in boards_of("t", "c", None, instant, zone)} == {
                (p, bucket(p, instant, zone)) for p in Period
            }
    assert {b.channel_id for b in boards} == {"", "help"}
    assert len(boards_of("t", "c", None, at, "UTC")) == 5


def test_deltas_add_up_per_board_and_member_and_leave_zeros_out() -> None:
    at = datetime(2026, 11, 2, 8, tzinfo=UTC)
    lines = [
        Line("t", "c", "help", "ann", 10, at, "UTC"),
        Line("t", "c", "general", "ann", 5, at, "UTC"),
        Line("t", "c", "help", "ann", -10, at, "UTC"),
        Line("t", "c", "help", "bob", 0, at, "UTC"),
    ]
    found = deltas(lines)
    whole = Board("t", "c", "", Period.ALL_TIME, "all")
    assert found[(whole, "ann")] == 5
    assert found[(Board("t", "c", "help", Period.DAY, "2026-11-02"), "ann")] == 0
    assert not any(member == "bob" for _board, member in found)


def test_score_counts_move_with_each_member() -> None:
    board = Board("t", "c", "", Period.ALL_TIME, "all")
    # ann 0 → 10, bob 10 → 20, cid 20 → 0: 10 and 20 are each still held once.
    changes = score_changes([(board, 0, 10), (board, 10, 20), (board, 20, 0)])
    assert changes == {}
    assert score_changes([(board, 5, 7), (board, 7, 7)]) == {(board, 5): -1, (board, 7): 1}


def test_a_block_counts_a_score_while_someone_holds_it() -> None:
    board = Board("t", "c", "", Period.ALL_TIME, "all")
    changes = block_changes(
        [(board, 10, 0, 1), (board, 20, 1, 2), (board, 600, 1, 0), (board, 700, 0, 3)]
    )
    # 10 appears in block 0; 20 was already held; 600 goes and 700 comes in block 1.
    assert changes == {(board, 0): 1}


def test_dense_ranks_share_a_rank_on_ties_and_continue_from_the_first() -> None:
    assert dense_ranks([50, 50, 40, 30, 30, 10], 1) == [1, 1, 2, 3, 3, 4]
    assert dense_ranks([30, 10], 3) == [3, 4]
    assert dense_ranks([], 1) == []
