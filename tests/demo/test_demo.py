"""`hearth demo` shows Hearth doing its job on the bundled sample community."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from services.demo.render import render
from services.demo.run import DemoError, Report, run_demo
from services.demo.sample import CHATTER_EN, CHATTER_RU, FEEDBACK, SPAM, TOXIC_RU, script

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_the_sample_is_the_same_on_every_run_and_covers_four_platforms() -> None:
    first, second = script(NOW), script(NOW)
    assert first == second
    assert {item.platform for item in first} == {"slack", "telegram", "discord", "github"}
    messages = [item for item in first if item.kind in ("message", "issue", "comment")]
    assert len(messages) >= 200
    assert any(item.kind == "reaction" for item in first)
    assert all(item.target is None or first[item.target].at <= item.at for item in first)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return asyncio.run(run_demo(tmp_path_factory.mktemp("demo") / "data", now=NOW))


def test_every_item_goes_through_the_platform_edge(report: Report) -> None:
    assert report.refused == []
    assert set(report.sent) == {"slack", "telegram", "discord", "github"}


def test_spam_and_insults_are_taken_down_and_chatter_is_left_alone(report: Report) -> None:
    taken_down = {d["text"] for d in report.decisions if d["verdict"] in ("hide", "remove")}
    assert set(SPAM) <= taken_down
    assert set(TOXIC_RU) <= taken_down
    judged = {d["text"] for d in report.decisions}
    clean = set(CHATTER_EN) | set(CHATTER_RU) | {t for en, ru in FEEDBACK.values() for t in en + ru}
    assert not judged & clean, f"clean messages judged: {judged & clean}"


def test_telegram_is_asked_to_delete_the_insults(report: Report) -> None:
    deleted = [
        params
        for platform, method, params in report.platform_calls
        if platform == "telegram" and method == "deleteMessage"
    ]
    assert len(deleted) >= len(TOXIC_RU)


def test_the_most_active_members_lead_the_board(report: Report) -> None:
    top = [report.names.get(entry["member_id"], "") for entry in report.leaderboard[:5]]
    assert any(name.startswith("Alice") for name in top), top
    assert any(name.startswith("Аня") for name in top), top


def test_the_crash_reports_form_one_cluster_across_languages(report: Report) -> None:
    english, russian = FEEDBACK["crash"]
    for cluster in report.clusters:
        texts = {rep["text"] for rep in cluster.get("representatives", [])}
        if texts & set(english) and texts & set(russian):
            assert cluster["intent"] == "bug_report"
            return
    raise AssertionError([c.get("label") for c in report.clusters])


def test_the_report_prints(report: Report) -> None:
    console = Console(record=True, width=120)
    render(report, console)
    text = console.export_text()
    assert "Moderation" in text and "Gamification" in text and "Insights" in text


def test_a_directory_that_holds_a_platform_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bus.db").write_bytes(b"")
    with pytest.raises(DemoError, match="already holds"):
        asyncio.run(run_demo(tmp_path, now=NOW))


def test_a_moderator_removes_the_insults_and_the_third_strike_mutes(report: Report) -> None:
    removed = {r["text"] for r in report.reviewed if r["verdict"] == "remove"}
    assert set(TOXIC_RU) <= removed
    dima = [s for s in report.sanctions if s["platform"] == "telegram"]
    assert [s["action"] for s in sorted(dima, key=lambda s: s["strikes"])] == [
        "warn",
        "warn",
        "mute",
    ]
    calls = [method for platform, method, _ in report.platform_calls if platform == "telegram"]
    assert "restrictChatMember" in calls
    assert all(s["result"] == "done" for s in dima), dima


def test_the_argument_raises_a_conflict_alert_naming_both_members(report: Report) -> None:
    alerts = [d for d in report.decisions if d["type"] == "moderation.conflict.detected"]
    assert alerts
    names = {report.names.get(m, "") for a in alerts for m in a["conflict"]["members"]}
    assert {"Dave Kim (slack)", "Erin Walsh (slack)"} <= names


def test_feedback_reaches_the_product_teams_webhook(report: Report) -> None:
    teams = {team for team, _ in report.webhooks}
    assert "product" in teams
    labels = " ".join(
        body["cluster"]["label"] for team, body in report.webhooks if team == "product"
    )
    assert "error" in labels or "crash" in labels or "игра" in labels


def test_the_most_active_become_the_core_and_badges_are_earned(report: Report) -> None:
    core = {report.names.get(member, "") for member in report.core}
    assert core == {"Alice Moreau (slack)", "Аня (telegram)", "Maxwell (discord)"}
    assert report.badges["first-words"] >= 15
    assert report.badges["helpful/bronze"] >= 1
