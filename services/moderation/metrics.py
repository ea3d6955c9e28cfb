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
