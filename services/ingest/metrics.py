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
ACTION_RESULTS_TOTAL = Counter(
    "hearth_ingest_action_results_total",
    "Moderation actions and role grants carried out on the platforms, by platform, action "
    "kind and final outcome (done, platform_error, unsupported, retries_exhausted, "
    "no_binding, ...), counted once when the result is recorded; retries are not counted.",
    ["platform", "action", "outcome"],
)
ACTION_RETRIES_TOTAL = Counter(
    "hearth_ingest_action_retries_total",
    "Platform calls that failed in a way that may pass and were rescheduled, by platform.",
    ["platform"],
)
