"""Metrics of the insights service (no member, message or community ids in labels)."""

from prometheus_client import Counter, Gauge

MESSAGES_CLUSTERED_TOTAL = Counter(
    "hearth_insights_messages_clustered_total",
    "Feedback-bearing messages put into a cluster (near-identical repeats included; chatter, "
    "bots and empty messages are not counted).",
)
ROUTED_TOTAL = Counter(
    "hearth_insights_routed_total",
    "Insights routed to a team by the communities' routing rules (instant alerts, insights "
    "waiting for a digest, and digests), by team: product, smm or community.",
    ["team"],
)
DELIVERIES_TOTAL = Counter(
    "hearth_insights_deliveries_total",
    "Webhook delivery attempts by result: delivered (2xx), retried (a 5xx, 408, 429 or "
    "network error; tried again after a backoff), failed (a 4xx, or attempts ran out).",
    ["result"],
)
CLUSTERS = Gauge(
    "hearth_insights_clusters",
    "Feedback clusters with at least one visible message, over every community, by the "
    "most frequent intent of their messages (set by each re-clustering pass).",
    ["intent"],
)
