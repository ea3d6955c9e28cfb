"""Hearth's Grafana dashboards as code: `python deploy/grafana/dashboards.py` writes the JSON.

The JSON under deploy/grafana/dashboards/ is what Grafana provisions; tests/ops checks it
is what this file produces, that every PromQL expression answers series from a real
Prometheus scraping the services, and that every SQL query returns rows on PostgreSQL.
SQL panels may use Grafana's `$__timeFilter(column)` macro and the `$community` variable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
POSTGRES = {"type": "grafana-postgresql-datasource", "uid": "postgres"}
OUT = Path(__file__).resolve().parent / "dashboards"
SCHEMA_VERSION = 39

Panel = dict[str, Any]


def prom(
    title: str,
    *exprs: tuple[str, str],
    unit: str = "short",
    kind: str = "timeseries",
    description: str = "",
) -> Panel:
    """A panel of PromQL expressions, each with its legend."""
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": PROMETHEUS,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": PROMETHEUS, "expr": e, "legendFormat": lg}
            for i, (e, lg) in enumerate(exprs)
        ],
    }


def sql(
    title: str, query: str, *, kind: str = "table", unit: str = "short", description: str = ""
) -> Panel:
    """A panel of one SQL query on Hearth's PostgreSQL (time series when kind is one)."""
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": POSTGRES,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {
                "refId": "A",
                "datasource": POSTGRES,
                "editorMode": "code",
                "format": "time_series" if kind == "timeseries" else "table",
                "rawQuery": True,
                "rawSql": " ".join(query.split()),
            }
        ],
    }


COMMUNITY_VARIABLE = {
    "type": "query",
    "name": "community",
    "label": "Community",
    "description": "Communities the SQL panels count (all by default).",
    "datasource": POSTGRES,
    "query": "SELECT id AS __value, name AS __text FROM ingest.communities ORDER BY name",
    "refresh": 1,
    "multi": True,
    "includeAll": True,
    "current": {"text": ["All"], "value": ["$__all"]},
}


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: list[Panel],
    variables: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A dashboard laying its panels out two to a row."""
    laid = []
    for index, panel in enumerate(panels):
        laid.append(
            {
                "id": index + 1,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
                **panel,
            }
        )
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["hearth"],
        "timezone": "utc",
        "editable": True,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": variables or []},
        "annotations": {"list": []},
        "panels": laid,
    }


def rate(metric: str, by: str, selector: str = "", window: str = "5m") -> str:
    """`sum by (by) (rate(metric{selector}[window]))`."""
    return f"sum by ({by}) (rate({metric}{{{selector}}}[{window}]))"


def quantile(q: float, metric: str, by: str, selector: str = "") -> str:
    """The q-quantile of a histogram over five minutes, by the given labels."""
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{selector}}}[5m])))"


def consumer_panels(group: str) -> list[Panel]:
    """Throughput and handler latency of one service's consumer group."""
    selector = f'group="{group}"'
    return [
        prom(
            "Events handled per second",
            (rate("hearth_consumer_messages_total", "topic, outcome", selector), "{{outcome}}"),
            unit="ops",
        ),
        prom(
            "Handler latency p50 / p99",
            (quantile(0.5, "hearth_consumer_handler_seconds", "event_type", selector), "p50"),
            (quantile(0.99, "hearth_consumer_handler_seconds", "event_type", selector), "p99"),
            unit="s",
        ),
    ]


REQUESTS = rate("hearth_http_requests_total", "service")
ERRORS = rate("hearth_http_requests_total", "service", 'status=~"5.."')

PLATFORM = dashboard(
    "hearth-platform",
    "Hearth platform health",
    "Throughput, latency, lag, errors, dead letters and outbox backlog of every service.",
    [
        prom(
            "Events handled per second",
            (rate("hearth_consumer_messages_total", "group, outcome"), "{{group}} {{outcome}}"),
            unit="ops",
        ),
        prom(
            "Events published per second",
            (rate("hearth_bus_published_total", "topic"), "{{topic}}"),
            unit="ops",
        ),
        prom(
            "Consumer lag",
            ("sum by (group, topic) (hearth_consumer_lag_messages)", "{{group}} {{topic}}"),
            description="Records between each group's committed offset and the partitions' end.",
        ),
        prom(
            "Consumer lag per partition",
            (
                "max by (group, topic, partition) (hearth_consumer_lag_messages)",
                "{{group}} {{topic}}[{{partition}}]",
            ),
        ),
        prom(
            "Handler latency p99",
            (quantile(0.99, "hearth_consumer_handler_seconds", "group"), "{{group}}"),
            unit="s",
        ),
        prom(
            "Dead letters and invalid events (15 min)",
            (
                "sum by (group, topic) (increase(hearth_consumer_messages_total"
                '{outcome=~"dead_lettered|invalid"}[15m]))',
                "{{group}} {{topic}}",
            ),
            description="Parked on <topic>.<group>.dlq; `hearth dlq list` shows them.",
        ),
        prom(
            "Retries per second",
            (rate("hearth_consumer_retries_total", "group, reason"), "{{group}} {{reason}}"),
            unit="ops",
        ),
        prom(
            "Consumers waiting for a dependency",
            ("max by (group) (hearth_consumer_waiting_for_dependency)", "{{group}}"),
            description="1 while a group has paused its partitions for a database or broker.",
        ),
        prom(
            "Outbox backlog",
            ("max by (service) (hearth_outbox_pending_rows)", "{{service}}"),
            description="Rows committed but not yet published.",
        ),
        prom(
            "Outbox rows published per second",
            (rate("hearth_outbox_published_total", "service"), "{{service}}"),
            unit="ops",
        ),
        prom(
            "HTTP requests per second",
            (rate("hearth_http_requests_total", "service, status"), "{{service}} {{status}}"),
            unit="reqps",
        ),
        prom(
            "HTTP 5xx ratio",
            (f"({ERRORS} or {REQUESTS} * 0) / {REQUESTS}", "{{service}}"),
            description="Share of requests answered with a server error (0 when none).",
            unit="percentunit",
        ),
        prom(
            "HTTP latency p95 by route",
            (quantile(0.95, "hearth_http_request_seconds", "service, route"), "{{route}}"),
            unit="s",
        ),
        prom(
            "Platform actions by platform and outcome (1 h)",
            (
                "sum by (platform, outcome) (increase(hearth_ingest_action_results_total[1h]))",
                "{{platform}} {{outcome}}",
            ),
            description="Deletes, warnings, mutes, bans and role grants ingest carried out "
            "on the platforms, by final outcome (retries not counted).",
        ),
        prom("Targets up", ('up{job="hearth"}', "{{instance}}"), kind="stat"),
    ],
)

MODERATION = dashboard(
    "hearth-moderation",
    "Hearth moderation",
    "Volume, verdicts, reasons, the review queue, time to action and the overturn rate.",
    [
        prom(
            "Decisions per second by verdict",
            (
                rate("hearth_moderation_decisions_total", "verdict", 'backfilled="false"'),
                "{{verdict}}",
            ),
            unit="ops",
        ),
        prom(
            "Decisions (24 h)",
            ("sum by (verdict) (increase(hearth_moderation_decisions_total[24h]))", "{{verdict}}"),
            kind="bargauge",
        ),
        sql(
            "Top reasons (rules that matched)",
            """SELECT rule, count(*) AS decisions
               FROM moderation.decisions, json_array_elements_text(rule_ids) AS rule
               WHERE verdict <> 'allow' AND $__timeFilter(created_at)
               GROUP BY rule ORDER BY decisions DESC LIMIT 15""",
        ),
        sql(
            "Review queue: depth and oldest item",
            """SELECT count(*) AS "queued",
                      coalesce(max(extract(epoch FROM now() - created_at)), 0) AS "oldest (s)"
               FROM moderation.review_items WHERE status IN ('open', 'claimed')""",
            kind="stat",
        ),
        sql(
            "Time to a moderator's verdict",
            """SELECT date_trunc('hour', decided_at) AS time,
                      percentile_cont(0.5) WITHIN GROUP
                        (ORDER BY extract(epoch FROM decided_at - created_at)) AS "median",
                      percentile_cont(0.9) WITHIN GROUP
                        (ORDER BY extract(epoch FROM decided_at - created_at)) AS "p90"
               FROM moderation.review_items
               WHERE decided_at IS NOT NULL AND $__timeFilter(decided_at)
               GROUP BY 1 ORDER BY 1""",
            kind="timeseries",
            unit="s",
        ),
        prom(
            "Review queue depth and oldest item (live)",
            ("max(hearth_moderation_queue_depth)", "waiting"),
            ("max(hearth_moderation_queue_oldest_age_seconds)", "oldest (s)"),
            description="Open or claimed items, refreshed by moderation every "
            "HEARTH_MODERATION_QUEUE_GAUGE_SECONDS.",
        ),
        prom(
            "Moderator verdicts per hour",
            (
                "sum by (auto_verdict, verdict) (increase(hearth_moderation_reviews_total[1h]))",
                "{{auto_verdict}} → {{verdict}}",
            ),
        ),
        prom(
            "Overturn (false-positive) rate",
            (
                "sum(increase(hearth_moderation_overturned_total[24h])) / "
                "sum(increase(hearth_moderation_reviews_total[24h]))",
                "overturned",
            ),
            unit="percentunit",
            description="Automatic flags and hides a moderator allowed, of all reviewed.",
        ),
        prom(
            "Sanctions per hour by action",
            ("sum by (action) (increase(hearth_moderation_sanctions_total[1h]))", "{{action}}"),
            description="Warnings, mutes and bans the strikes ladder sent to the platforms.",
        ),
        prom(
            "Sanction results reported back",
            (
                "sum by (of, outcome) (increase(hearth_moderation_action_results_total[1h]))",
                "{{of}} {{outcome}}",
            ),
            description="What ingest reported the platforms did with each sanction or appeal.",
        ),
        prom(
            "Regex rules cut off by their time bound",
            ("sum(rate(hearth_moderation_regex_timeouts_total[5m]))", "timeouts"),
            unit="ops",
        ),
        *consumer_panels("hearth-moderation"),
    ],
)

GAMIFICATION = dashboard(
    "hearth-gamification",
    "Hearth gamification",
    "Points, levels and the top members, from the ledger and its totals in PostgreSQL.",
    [
        prom(
            "Points awarded and revoked per hour",
            ("sum(increase(hearth_gamification_points_awarded_total[1h]))", "awarded"),
            ("sum(increase(hearth_gamification_points_revoked_total[1h]))", "revoked"),
        ),
        prom(
            "Level-ups per hour",
            ("sum(increase(hearth_gamification_level_ups_total[1h]))", "level-ups"),
        ),
        prom(
            "Badges awarded per hour by kind",
            (
                "sum by (badge_kind) (increase(hearth_gamification_badges_awarded_total[1h]))",
                "{{badge_kind}}",
            ),
        ),
        sql(
            "Badges held",
            """SELECT badge_id AS badge, tier, count(*) AS members
               FROM gamification.member_badges WHERE held
               GROUP BY badge_id, tier ORDER BY members DESC""",
        ),
        sql(
            "Points per day",
            """SELECT date_trunc('day', earned_at) AS time, sum(points) AS "net points"
               FROM gamification.ledger WHERE $__timeFilter(earned_at)
               GROUP BY 1 ORDER BY 1""",
            kind="timeseries",
        ),
        sql(
            "Points by rule",
            """SELECT rule_id AS rule, sum(points) AS points, count(*) AS entries
               FROM gamification.ledger WHERE $__timeFilter(earned_at)
               GROUP BY rule_id ORDER BY points DESC""",
            kind="barchart",
        ),
        sql(
            "Level distribution",
            """SELECT 'level ' || level AS level, count(*) AS members
               FROM gamification.member_totals GROUP BY level ORDER BY level""",
            kind="barchart",
        ),
        sql(
            "Top members",
            """SELECT community_id, member_id, points, level
               FROM gamification.member_totals ORDER BY points DESC LIMIT 10""",
        ),
        *consumer_panels("hearth-gamification"),
    ],
)

COMMUNITY = dashboard(
    "hearth-community",
    "Hearth community health",
    "Active, new and returning members, retention and channels, from the events ingest "
    "received (ingest.received_events).",
    [
        sql(
            "Active members: DAU / WAU / MAU",
            """SELECT
                 count(DISTINCT member_id)
                   FILTER (WHERE occurred_at > now() - interval '1 day') AS "DAU",
                 count(DISTINCT member_id)
                   FILTER (WHERE occurred_at > now() - interval '7 days') AS "WAU",
                 count(DISTINCT member_id) AS "MAU"
               FROM ingest.received_events
               WHERE member_id IS NOT NULL AND occurred_at > now() - interval '30 days'
                 AND community_id IN ($community)""",
            kind="stat",
        ),
        sql(
            "Daily active members",
            """SELECT date_trunc('day', occurred_at) AS time,
                      count(DISTINCT member_id) AS "active members"
               FROM ingest.received_events
               WHERE member_id IS NOT NULL AND $__timeFilter(occurred_at)
                 AND community_id IN ($community)
               GROUP BY 1 ORDER BY 1""",
            kind="timeseries",
        ),
        sql(
            "New and returning members per day",
            """WITH firsts AS (
                 SELECT member_id, date_trunc('day', min(occurred_at)) AS first_day
                 FROM ingest.received_events
                 WHERE member_id IS NOT NULL AND community_id IN ($community)
                 GROUP BY member_id
               ), days AS (
                 SELECT DISTINCT date_trunc('day', occurred_at) AS day, member_id
                 FROM ingest.received_events
                 WHERE member_id IS NOT NULL AND $__timeFilter(occurred_at)
                   AND community_id IN ($community)
               )
               SELECT d.day AS time,
                      count(*) FILTER (WHERE f.first_day = d.day) AS "new",
                      count(*) FILTER (WHERE f.first_day < d.day) AS "returning"
               FROM days d JOIN firsts f USING (member_id)
               GROUP BY 1 ORDER BY 1""",
            kind="timeseries",
        ),
        sql(
            "Joins and leaves per day",
            """SELECT date_trunc('day', occurred_at) AS time,
                      count(*) FILTER (WHERE type = 'community.member.joined') AS "joined",
                      count(*) FILTER (WHERE type = 'community.member.left') AS "left"
               FROM ingest.received_events
               WHERE type IN ('community.member.joined', 'community.member.left')
                 AND $__timeFilter(occurred_at) AND community_id IN ($community)
               GROUP BY 1 ORDER BY 1""",
            kind="timeseries",
        ),
        sql(
            "Weekly retention cohorts",
            """WITH activity AS (
                 SELECT DISTINCT member_id, date_trunc('week', occurred_at) AS week
                 FROM ingest.received_events
                 WHERE member_id IS NOT NULL AND community_id IN ($community)
               ), cohorts AS (
                 SELECT member_id, min(week) AS cohort FROM activity GROUP BY member_id
               )
               SELECT to_char(c.cohort, 'YYYY-MM-DD') AS "first active week",
                      count(DISTINCT c.member_id) AS members,
                      round(100.0 * count(DISTINCT a.member_id)
                        FILTER (WHERE a.week = c.cohort + interval '1 week')
                        / count(DISTINCT c.member_id), 1) AS "week 1 %",
                      round(100.0 * count(DISTINCT a.member_id)
                        FILTER (WHERE a.week = c.cohort + interval '2 weeks')
                        / count(DISTINCT c.member_id), 1) AS "week 2 %",
                      round(100.0 * count(DISTINCT a.member_id)
                        FILTER (WHERE a.week = c.cohort + interval '3 weeks')
                        / count(DISTINCT c.member_id), 1) AS "week 3 %",
                      round(100.0 * count(DISTINCT a.member_id)
                        FILTER (WHERE a.week = c.cohort + interval '4 weeks')
                        / count(DISTINCT c.member_id), 1) AS "week 4 %"
               FROM cohorts c JOIN activity a USING (member_id)
               WHERE c.cohort > now() - interval '12 weeks'
               GROUP BY c.cohort ORDER BY c.cohort""",
            description="Members by the week they were first active, and the share of them "
            "active again 1 to 4 weeks later.",
        ),
        sql(
            "Active channels",
            """SELECT platform, payload->>'channel_id' AS channel, count(*) AS messages,
                      count(DISTINCT member_id) AS members, max(occurred_at) AS "last message"
               FROM ingest.received_events
               WHERE type = 'community.message.created'
                 AND payload->>'channel_id' IS NOT NULL AND $__timeFilter(occurred_at)
                 AND community_id IN ($community)
               GROUP BY 1, 2 ORDER BY messages DESC LIMIT 20""",
        ),
        sql(
            "Events per day by platform",
            """SELECT date_trunc('day', occurred_at) AS time, platform, count(*) AS events
               FROM ingest.received_events
               WHERE $__timeFilter(occurred_at) AND community_id IN ($community)
               GROUP BY 1, 2 ORDER BY 1""",
            kind="timeseries",
        ),
        prom(
            "Events received by source and outcome",
            (rate("hearth_ingest_events_total", "source, outcome"), "{{source}} {{outcome}}"),
            unit="ops",
        ),
    ],
    variables=[COMMUNITY_VARIABLE],
)

INSIGHTS = dashboard(
    "hearth-insights",
    "Hearth insights",
    "Feedback clusters by intent, their trend and sentiment, from insights' read models.",
    [
        prom(
            "Messages clustered per second",
            ("sum(rate(hearth_insights_messages_clustered_total[5m]))", "clustered"),
            unit="ops",
        ),
        prom(
            "Clusters by intent (live)",
            ("sum by (intent) (hearth_insights_clusters)", "{{intent}}"),
            kind="bargauge",
            description="Set by each re-clustering pass.",
        ),
        prom(
            "Insights routed per hour by team",
            ("sum by (team) (increase(hearth_insights_routed_total[1h]))", "{{team}}"),
        ),
        prom(
            "Webhook deliveries per hour by result",
            ("sum by (result) (increase(hearth_insights_deliveries_total[1h]))", "{{result}}"),
        ),
        sql(
            "Routed insights by team and kind",
            """SELECT team, kind, count(*) AS insights, count(DISTINCT cluster_id) AS clusters
               FROM insights.routed_insights WHERE $__timeFilter(created_at)
               GROUP BY team, kind ORDER BY insights DESC""",
        ),
        sql(
            "Deliveries by destination and status",
            """SELECT destination, status, count(*) AS deliveries, max(attempts) AS "most attempts"
               FROM insights.deliveries WHERE $__timeFilter(created_at)
               GROUP BY destination, status ORDER BY deliveries DESC""",
        ),
        sql(
            "Clusters by intent",
            """SELECT intent, count(DISTINCT cluster_id) AS clusters, count(*) AS messages
               FROM insights.cluster_members WHERE NOT removed AND $__timeFilter(occurred_at)
               GROUP BY intent ORDER BY messages DESC""",
            kind="barchart",
        ),
        sql(
            "Sentiment per day",
            """SELECT date_trunc('day', occurred_at) AS time,
                      count(*) FILTER (WHERE sentiment = 'positive') AS positive,
                      count(*) FILTER (WHERE sentiment = 'neutral') AS neutral,
                      count(*) FILTER (WHERE sentiment = 'negative') AS negative
               FROM insights.cluster_members
               WHERE NOT removed AND $__timeFilter(occurred_at)
               GROUP BY 1 ORDER BY 1""",
            kind="timeseries",
        ),
        sql(
            "Trending clusters (last 7 days against the 7 before)",
            """SELECT cluster_id, mode() WITHIN GROUP (ORDER BY intent) AS intent,
                      count(*) FILTER (WHERE occurred_at > now() - interval '7 days')
                        AS "last 7 days",
                      count(*) FILTER (WHERE occurred_at <= now() - interval '7 days')
                        AS "7 days before",
                      count(DISTINCT member_id) AS members
               FROM insights.cluster_members
               WHERE NOT removed AND occurred_at > now() - interval '14 days'
               GROUP BY cluster_id ORDER BY "last 7 days" DESC LIMIT 20""",
        ),
        sql(
            "Messages clustered per day",
            """SELECT date_trunc('day', occurred_at) AS time, count(*) AS messages,
                      count(*) FILTER (WHERE duplicate) AS "near duplicates"
               FROM insights.cluster_members WHERE $__timeFilter(occurred_at)
               GROUP BY 1 ORDER BY 1""",
            kind="timeseries",
        ),
        *consumer_panels("hearth-insights"),
    ],
)

DASHBOARDS = {
    "platform.json": PLATFORM,
    "moderation.json": MODERATION,
    "gamification.json": GAMIFICATION,
    "community.json": COMMUNITY,
    "insights.json": INSIGHTS,
}


def render(board: dict[str, Any]) -> str:
    """The JSON text of a dashboard as it is committed."""
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Write every dashboard's JSON next to this file."""
    OUT.mkdir(exist_ok=True)
    for name, board in DASHBOARDS.items():
        (OUT / name).write_text(render(board), encoding="utf-8")
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
