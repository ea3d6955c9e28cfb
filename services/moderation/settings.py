"""Settings of the moderation service (env prefix HEARTH_MODERATION_)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the moderation service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_MODERATION_", extra="ignore")
