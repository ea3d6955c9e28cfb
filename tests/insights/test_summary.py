"""A cluster's summary: sentiment mix, trend between windows, channels, core share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.insights.domain.sentiment import Sentiment
from services.insights.domain.summary import Direction, summarise, trend

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class M:
    event_id: str
    member_id: str | None
    sentiment: str = "negative"
    days_ago: float = 1
    duplicate: bool = False
    platform: str = "discord"
    channel_id: str | None = "general"

    @property
    def occurred_at(self) -> datetime:
        return NOW - timedelta(days=self.days_ago)


def test_trend_compares_this_window_with_the_one_before() -> None:
    times = [NOW - timedelta(days=d) for d in (1, 2, 3, 8)]
    rising = trend(times, as_of=NOW, window=WEEK)
    assert (rising.current, rising.previous, rising.direction) == (3, 1, Direction.RISING)
    assert rising.change == 2.0
    assert trend(times, as_of=NOW, window=timedelta(days=2)).direction is Direction.FALLING
    assert trend(times[:1], as_of=NOW, window=WEEK).direction is Direction.NEW
    assert trend(times, as_of=NOW + 30 * WEEK, window=WEEK).direction is Direction.QUIET
    assert trend(times[:1], as_of=NOW, window=WEEK).change is None


def test_summary_counts_repeats_once_and_voices_once() -> None:
    members = [
        M("1", "ann", "negative"),
        M("2", "ann", "negative", duplicate=True, platform="telegram", channel_id="chat"),
        M("3", "bob", "positive", days_ago=9),
        M("4", "cyd", "neutral"),
        M("5", None, "negative", channel_id="bugs"),
    ]
    summary = summarise(members, as_of=NOW, window=WEEK, core={"ann", "zed"})
    assert summary.sentiment == {
        Sentiment.NEGATIVE: 2,
        Sentiment.NEUTRAL: 1,
        Sentiment.POSITIVE: 1,
    }
    assert (summary.trend.current, summary.trend.previous) == (3, 1)
    assert [(c.platform, c.channel_id, c.messages) for c in summary.channels] == [
        ("discord", "general", 3),
        ("discord", "bugs", 1),
        ("telegram", "chat", 1),
    ]
    assert summary.core_share == 1 / 3
    assert summarise(members, as_of=NOW, window=WEEK, core=None).core_share is None


def test_no_recluster_loop_without_a_context() -> None:
    from services.insights.recluster import recluster_loops

    assert recluster_loops(None) == []
