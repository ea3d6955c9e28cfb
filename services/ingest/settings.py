"""Settings of the ingest service (env prefix HEARTH_INGEST_)."""

from __future__ import annotations

from pydantic import Field, SecretStr
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
    telegram_api_url: str = "https://api.telegram.org"
    slack_api_url: str = "https://slack.com/api/"
    discord_api_url: str = "https://discord.com/api/v10"
    github_api_url: str = "https://api.github.com"
