"""Metrics of the moderation service."""

from prometheus_client import Counter

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
