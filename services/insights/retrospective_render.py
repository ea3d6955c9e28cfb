"""A retrospective as Markdown, and as HTML with charts (matplotlib, inline SVG), EN or RU."""

from __future__ import annotations

import html
import io
from typing import Any

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Community retrospective",
        "period": "Period",
        "activity": "Activity",
        "dau": "Daily active members (mean)",
        "wau": "Weekly active members (last 7 days)",
        "mau": "Monthly active members",
        "stickiness": "Stickiness (DAU/MAU)",
        "new": "New members",
        "returning": "Returning members",
        "churned": "Churned members",
        "daily": "Daily active members",
        "members_chart": "New, returning and churned members",
        "cohorts": "Retention by weekly cohort",
        "cohort": "Cohort (week)",
        "size": "Members",
        "weeks": "Share active in week 0, 1, 2, …",
        "questions": "Questions",
        "asked": "Asked",
        "answered": "Answered",
        "median": "Median time to first response",
        "contributors": "Top contributors",
        "member": "Member",
        "messages": "Messages",
        "days": "Active days",
        "core": "Core members",
        "joined": "Joined the core",
        "left": "Left the core",
        "moderation": "Moderation",
        "outcome": "Outcome",
        "count": "Count",
        "polls": "Polls",
        "poll": "Poll",
        "voters": "Voters",
        "leading": "Leading option",
        "clusters": "Top feedback clusters",
        "cluster": "Cluster",
        "intent": "Intent",
        "this_period": "This period",
        "before": "Period before",
        "movement": "Movement",
        "churn_risk": "Churn risk",
        "events_before": "Events, 28 days before",
        "events_recent": "Events, last 28 days",
        "last_seen": "Last seen",
        "none": "None.",
        "hours": "h",
    },
    "ru": {
        "title": "Ретроспектива сообщества",
        "period": "Период",
        "activity": "Активность",
        "dau": "Активных участников в день (среднее)",
        "wau": "Активных за неделю (последние 7 дней)",
        "mau": "Активных за месяц",
        "stickiness": "Вовлечённость (DAU/MAU)",
        "new": "Новые участники",
        "returning": "Вернувшиеся участники",
        "churned": "Ушедшие участники",
        "daily": "Активные участники по дням",
        "members_chart": "Новые, вернувшиеся и ушедшие",
        "cohorts": "Удержание по недельным когортам",
        "cohort": "Когорта (неделя)",
        "size": "Участников",
        "weeks": "Доля активных на неделе 0, 1, 2, …",
        "questions": "Вопросы",
        "asked": "Задано",
        "answered": "Отвечено",
        "median": "Медианное время до первого ответа",
        "contributors": "Самые активные участники",
        "member": "Участник",
        "messages": "Сообщений",
        "days": "Активных дней",
        "core": "Ядро сообщества",
        "joined": "Вошли в ядро",
        "left": "Вышли из ядра",
        "moderation": "Модерация",
        "outcome": "Итог",
        "count": "Количество",
        "polls": "Опросы",
        "poll": "Опрос",
        "voters": "Проголосовало",
        "leading": "Лидирующий вариант",
        "clusters": "Главные темы отзывов",
        "cluster": "Тема",
        "intent": "Намерение",
        "this_period": "В этом периоде",  # noqa: RUF001
        "before": "В прошлом периоде",  # noqa: RUF001
        "movement": "Динамика",
        "churn_risk": "Риск ухода",
        "events_before": "Событий за 28 дней до",
        "events_recent": "Событий за последние 28 дней",
        "last_seen": "Последняя активность",
        "none": "Нет.",
        "hours": "ч",
    },
}
MOVEMENT = {
    "en": {
        "new": "new",
        "rising": "rising",
        "steady": "steady",
        "falling": "falling",
        "quiet": "quiet",
    },
    "ru": {
        "new": "новая",
        "rising": "растёт",
        "steady": "без изменений",
        "falling": "снижается",
        "quiet": "затихла",
    },
}
LOCALES = tuple(TEXT)


def _duration(seconds: float | None, t: dict[str, str]) -> str:
    return "—" if seconds is None else f"{seconds / 3600:.1f} {t['hours']}"


def _sections(report: dict[str, Any], locale: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """Each section as (title, header, rows) in the locale."""
    t, moves = TEXT[locale], MOVEMENT[locale]
    a = report["activity"]
    stickiness = "—" if a["stickiness"] is None else f"{a['stickiness']:.0%}"
    q = a["questions"]
    return [
        (
            t["activity"],
            [t["activity"], ""],
            [
                [t["dau"], f"{a['dau']:.1f}"],
                [t["wau"], str(a["wau"])],
                [t["mau"], str(a["mau"])],
                [t["stickiness"], stickiness],
                [t["new"], str(a["new"])],
                [t["returning"], str(a["returning"])],
                [t["churned"], str(a["churned"])],
            ],
        ),
        (
            t["questions"],
            [t["questions"], ""],
            [
                [t["asked"], str(q["asked"])],
                [t["answered"], str(q["answered"])],
                [t["median"], _duration(q["median_first_response_seconds"], t)],
            ],
        ),
        (
            t["cohorts"],
            [t["cohort"], t["size"], t["weeks"]],
            [
                [c["week"], str(c["members"]), " · ".join(f"{r:.0%}" for r in c["retention"])]
                for c in a["cohorts"]
            ],
        ),
        (
            t["contributors"],
            [t["member"], t["messages"], t["days"]],
            [[c["member"], str(c["messages"]), str(c["days"])] for c in a["top_contributors"]],
        ),
        (
            t["core"],
            [t["joined"], t["left"]],
            [
                [
                    ", ".join(report["core"]["joined"]) or "—",
                    ", ".join(report["core"]["left"]) or "—",
                ]
            ],
        ),
        (
            t["moderation"],
            [t["outcome"], t["count"]],
            [[k, str(v)] for k, v in sorted(report["moderation"].items())],
        ),
        (
            t["polls"],
            [t["poll"], t["voters"], t["leading"]],
            [[p["poll_id"], str(p["voters"]), p["leading"] or "—"] for p in report["polls"]],
        ),
        (
            t["clusters"],
            [t["cluster"], t["intent"], t["this_period"], t["before"], t["movement"]],
            [
                [
                    c["label"],
                    c["intent"],
                    str(c["current"]),
                    str(c["previous"]),
                    moves[c["direction"]],
                ]
                for c in report["clusters"]
            ],
        ),
        (
            t["churn_risk"],
            [t["member"], t["events_before"], t["events_recent"], t["last_seen"]],
            [
                [c["member"], str(c["events_before"]), str(c["events_recent"]), c["last_seen"]]
                for c in a["churn_risk"]
            ],
        ),
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: dict[str, Any], locale: str = "en") -> str:
    """The retrospective as Markdown."""
    t = TEXT[locale]
    out = [f"# {t['title']}", "", f"{t['period']}: {report['start']} — {report['end']}", ""]
    for title, header, rows in _sections(report, locale):
        out += [f"## {title}", ""]
        if not rows:
            out += [t["none"], ""]
            continue
        out.append("| " + " | ".join(_cell(h) for h in header) + " |")
        out.append("|" + "---|" * len(header))
        out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
        out.append("")
    return "\n".join(out)


def html_report(report: dict[str, Any], locale: str = "en") -> str:
    """The retrospective as one HTML page, charts inline as SVG."""
    t = TEXT[locale]
    parts = [
        f'<!doctype html><html lang="{locale}"><head><meta charset="utf-8">',
        f"<title>{html.escape(t['title'])}</title>",
        "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}</style>",
        f"</head><body><h1>{html.escape(t['title'])}</h1>",
        f"<p>{html.escape(t['period'])}: {report['start']} — {report['end']}</p>",
    ]
    parts += _charts(report, t)
    for title, header, rows in _sections(report, locale):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if not rows:
            parts.append(f"<p>{html.escape(t['none'])}</p>")
            continue
        parts.append(
            "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
        )
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _charts(report: dict[str, Any], t: dict[str, str]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    a = report["activity"]
    charts = []
    daily = Figure(figsize=(8, 2.6))
    ax = daily.subplots()
    ax.plot([d for d, _ in a["daily_active"]], [n for _, n in a["daily_active"]], marker=".")
    ax.set_title(t["daily"])
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    charts.append(_svg(daily))
    members = Figure(figsize=(5, 2.6))
    ax = members.subplots()
    ax.bar([t["new"], t["returning"], t["churned"]], [a["new"], a["returning"], a["churned"]])
    ax.set_title(t["members_chart"])
    charts.append(_svg(members))
    if report["clusters"]:
        clusters = Figure(figsize=(8, 0.4 * len(report["clusters"]) + 1))
        ax = clusters.subplots()
        labels = [c["label"][:40] for c in report["clusters"]][::-1]
        ax.barh(labels, [c["current"] for c in report["clusters"]][::-1], label=t["this_period"])
        ax.barh(labels, [-c["previous"] for c in report["clusters"]][::-1], label=t["before"])
        ax.set_title(t["clusters"])
        ax.legend(fontsize=7)
        charts.append(_svg(clusters))
    return charts


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.tight_layout()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]
