"""Metrics of the moderation service."""

from prometheus_client import Counter, Gauge

DECISIONS_TOTAL = Counter(
    "hearth_moderation_decisions_total",
    "Decisions on live messages by verdict (allow, flag, hide, remove); backfilled "
    "history is counted with backfilled=true.",
    ["verdict", "backfilled"],
)
REGEX_TIMEOUTS_TOTAL = Counter(
    "hearth_moderation_regex_timeouts_total",
    "Rule patterns cut off by their time bound (HEARTH_MODERATION_REGEX_TIMEOUT_MS); "
    "the rule counted as not matching.",
)
REVIEWS_TOTAL = Counter(
    "hearth_moderation_reviews_total",
    "Queued decisions a moderator decided, by the automatic verdict and the moderator's.",
    ["auto_verdict", "verdict"],
)
OVERTURNED_TOTAL = Counter(
    "hearth_moderation_overturned_total",
    "Automatic flags and hides a moderator allowed (false positives), by automatic verdict.",
    ["auto_verdict"],
)
SANCTIONS_TOTAL = Counter(
    "hearth_moderation_sanctions_total",
    "Sanctions sent to the platforms by the strikes ladder (warn, mute, ban).",
    ["action"],
)
ACTION_RESULTS_TOTAL = Counter(
    "hearth_moderation_action_results_total",
    "Results ingest reported for sanctions and for appeals' unmutes/unbans, by outcome "
    "(done, unsupported, platform_error, retries_exhausted, no_binding).",
    ["of", "outcome"],
)
CONFLICTS_TOTAL = Counter(
    "hearth_moderation_conflicts_total",
    "Conflict alerts published (moderation.conflict.detected), by what rose over the window "
    "(toxicity, flagged_share, pair_replies).",
    ["kind"],
)
REPORTS_TOTAL = Counter(
    "hearth_moderation_reports_total",
    "Member reports received, by what they did (queued, hidden, counted, duplicate).",
    ["outcome"],
)
APPEALS_TOTAL = Counter(
    "hearth_moderation_appeals_total",
    "Appeals of sanctions: filed, and decided upheld or reversed.",
    ["outcome"],
)
QUEUE_DEPTH = Gauge(
    "hearth_moderation_queue_depth",
    "Review-queue items waiting for a moderator (open or claimed), all communities; "
    "refreshed every HEARTH_MODERATION_QUEUE_GAUGE_SECONDS.",
)
QUEUE_OLDEST_AGE = Gauge(
    "hearth_moderation_queue_oldest_age_seconds",
    "Age of the oldest review-queue item still waiting for a moderator (0 when none); "
    "refreshed every HEARTH_MODERATION_QUEUE_GAUGE_SECONDS.",
)
