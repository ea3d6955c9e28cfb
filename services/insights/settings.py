"""Settings of the insights service (env prefix HEARTH_INSIGHTS_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the insights service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_INSIGHTS_", extra="ignore")

    trend_window_days: float = Field(
        default=7, gt=0, le=366, description="a cluster's trend: this window vs the one before"
    )
    recluster_interval_seconds: float = Field(
        default=300, gt=0, description="how often stored clusters whose centroids came close merge"
    )
    merge_threshold: float = Field(
        default=0.7, gt=0, le=1, description="centroid cosine at which two clusters merge"
    )
    delivery_interval_seconds: float = Field(
        default=1.0, gt=0, le=60, description="how often due webhook deliveries are looked for"
    )
    delivery_attempts: int = Field(
        default=8, ge=1, le=50, description="attempts per webhook delivery before it fails"
    )
    delivery_backoff_seconds: float = Field(
        default=2.0, gt=0, le=3600, description="wait after the first failed attempt (doubles)"
    )
    delivery_backoff_max_seconds: float = Field(
        default=600.0, gt=0, le=86_400, description="longest wait between attempts"
    )
    delivery_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="a webhook call's bound"
    )
    delivery_lease_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="a claimed delivery is retried after this"
    )
    digest_interval_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="how often finished digest periods are sent"
    )
    retrospective_interval_seconds: float = Field(
        default=3600,
        gt=0,
        le=86_400,
        description="how often last month's retrospectives are published",
    )
