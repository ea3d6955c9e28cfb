"""Settings of the ingest service (env prefix HEARTH_INGEST_)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the ingest service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_INGEST_", extra="ignore")

    secrets_key: SecretStr | None = Field(
        default=None,
        description="Fernet key that encrypts binding secrets at rest; "
        "`hearth dev` creates one in .hearth/secrets.key",
    )
    replay_window_seconds: int = Field(default=300, ge=30, le=3600)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    action_attempts: int = Field(default=5, ge=1, le=20, description="calls per platform action")
    action_backoff_seconds: float = Field(default=0.5, ge=0, description="first retry delay")
    action_max_retry_after: float = Field(
        default=300, ge=0, description="longest 429 retry_after honoured before giving up"
    )
    action_backoff_max_seconds: float = Field(default=30, ge=0, description="longest retry delay")
    action_call_timeout_seconds: float = Field(
        default=30, gt=0, description="a platform call taking longer counts as a transient failure"
    )
    action_lease_seconds: float = Field(
        default=120,
        gt=0,
        description="how long a dispatcher owns an attempt it claimed; after that (it died "
        "mid-call) another may retry it. Must exceed action_call_timeout_seconds",
    )
    dispatch_workers: int = Field(
        default=8,
        ge=0,
        description="platform calls this process makes at once, one per binding; "
        "0 leaves dispatching to other replicas",
    )
    dispatch_interval_seconds: float = Field(
        default=0.5, gt=0, description="how often the dispatcher looks for due attempts"
    )
    telegram_api_url: str = "https://api.telegram.org"
    slack_api_url: str = "https://slack.com/api/"
    discord_api_url: str = "https://discord.com/api/v10"
    github_api_url: str = "https://api.github.com"

    @model_validator(mode="after")
    def _lease_outlives_a_call(self) -> Settings:
        if self.action_lease_seconds <= self.action_call_timeout_seconds:
            raise ValueError("action_lease_seconds must exceed action_call_timeout_seconds")
        return self
