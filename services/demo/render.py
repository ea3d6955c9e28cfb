"""The demo's report for a terminal (rich)."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from services.demo.run import Report


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render(report: Report, console: Console) -> None:
    """Print what the replay did, section by section."""
    sent = " · ".join(f"{platform} {count}" for platform, count in sorted(report.sent.items()))
    console.rule("[bold]Hearth demo: Lumen, a game studio's players, two weeks replayed")
    console.print(
        f"{sum(report.sent.values())} platform events in {report.seconds:.0f} s ({sent}); "
        "Slack, Telegram and GitHub as signed webhooks, Discord through the integrator API."
    )
    for refusal in report.refused:
        console.print(f"[red]refused[/] {refusal}")

    judged = sum(report.verdicts.values())
    console.rule("Moderation")
    console.print(
        f"{judged} messages judged: "
        + ", ".join(f"{count} {verdict}" for verdict, count in report.verdicts.most_common())
    )
    table = Table("verdict", "member", "message", "why", show_lines=False)
    for decision in report.decisions:
        if decision.get("type") == "moderation.conflict.detected":
            continue
        reasons = ", ".join(reason.split(":")[0] for reason in decision.get("reasons", []))
        table.add_row(
            decision.get("verdict", ""),
            report.names.get(decision.get("member_id") or "", ""),
            _short(decision.get("text", "")),
            _short(reasons, 40),
        )
    console.print(table)
    for review in report.reviewed:
        who = report.names.get(review.get("member_id") or "", "")
        console.print(
            f"moderator: [bold]{review['verdict']}[/] ({review['auto_verdict']} automatically) "
            f"{who}: “{_short(review['text'], 50)}” — {review['note']}"
        )
    for alert in (d for d in report.decisions if d.get("type") == "moderation.conflict.detected"):
        conflict = alert.get("conflict") or {}
        members = ", ".join(report.names.get(m, m) for m in conflict.get("members", []))
        console.print(
            f"[yellow]conflict alert[/] ({conflict.get('kind')}) in channel "
            f"{conflict.get('channel_id')}: {members}"
        )
    for sanction in report.sanctions:
        minutes = (sanction.get("duration_seconds") or 0) // 60
        console.print(
            f"[bold]sanction[/] {sanction.get('action')}"
            f"{f' {minutes} min' if minutes else ''} for "
            f"{report.names.get(sanction.get('member') or '', sanction.get('member'))} after "
            f"{sanction.get('strikes')} strikes ({sanction.get('platform')}: "
            f"{sanction.get('result') or 'pending'})"
        )
    calls = Counter(f"{platform} {method}" for platform, method, _ in report.platform_calls)
    if calls:
        console.print(
            "Telegram (a local stand-in for its Bot API) was asked: "
            + ", ".join(f"{call} x{count}" for call, count in calls.items())
        )

    console.rule("Gamification")
    board = Table("rank", "member", "points")
    for entry in report.leaderboard:
        board.add_row(
            str(entry.get("rank")),
            report.names.get(entry["member_id"], entry["member_id"]),
            str(entry.get("points")),
        )
    console.print(board)
    if report.badges:
        console.print(
            "badges: " + ", ".join(f"{badge} x{n}" for badge, n in report.badges.most_common())
        )
    if report.core:
        console.print("core members: " + ", ".join(report.names.get(m, m) for m in report.core))

    console.rule("Insights")
    clusters = Table("feedback cluster", "intent", "messages", "members", "platforms")
    for cluster in report.clusters:
        clusters.add_row(
            _short(cluster.get("label", ""), 45),
            cluster.get("intent", ""),
            str(cluster.get("messages", cluster.get("size", ""))),
            str(cluster.get("members", "")),
            ", ".join(cluster.get("platforms", [])),
        )
    console.print(clusters)
    for routed in report.routed:
        console.print(
            f"routed to [bold]{routed.get('routed_to')}[/]: {_short(routed.get('label') or '', 50)}"
        )
    teams = Counter(team for team, _ in report.webhooks)
    if teams:
        console.print(
            "webhooks received (signed, a local stand-in for the teams' endpoints): "
            + ", ".join(f"{team} x{count}" for team, count in teams.items())
        )
