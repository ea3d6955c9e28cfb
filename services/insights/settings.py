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
