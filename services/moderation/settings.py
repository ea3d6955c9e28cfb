"""Settings of the moderation service (env prefix HEARTH_MODERATION_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the moderation service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_MODERATION_", extra="ignore")

    regex_timeout_ms: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description="how long one rule's pattern may run on one message before it is cut off",
    )
    compiled_rulesets: int = Field(
        default=1024, ge=1, description="compiled rulesets kept in memory (LRU)"
    )
    recent_messages: int = Field(
        default=500,
        ge=0,
        le=100_000,
        description="live messages (text included) kept per community for dry runs of new "
        "rules and conflict detection; older ones are deleted",
    )
    queue_gauge_seconds: float = Field(
        default=15,
        gt=0,
        le=3600,
        description="how often the review-queue gauges (depth, oldest age) are refreshed",
    )
