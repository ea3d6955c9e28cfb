"""Metrics of the ingest service."""

from prometheus_client import Counter

WEBHOOKS_TOTAL = Counter(
    "hearth_ingest_webhooks_total",
    "Webhook deliveries by platform and outcome "
    "(accepted, duplicate, ignored, replied, bad_signature, malformed, unknown_binding, "
    "bus_unavailable, too_large, rate_limited, foreign_workspace: a verified delivery from "
    "another workspace than its binding's, ignored).",
    ["platform", "outcome"],
)
EVENTS_TOTAL = Counter(
    "hearth_ingest_events_total",
    "Canonical events by source (webhook, api, gateway, gap_fill: the Discord gateway's "
    "history read after a lost session, poller, import) and outcome.",
    ["source", "outcome"],
)
