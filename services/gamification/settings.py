"""Settings of the gamification service (env prefix HEARTH_GAMIFICATION_)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the gamification service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_GAMIFICATION_", extra="ignore")
