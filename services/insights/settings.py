"""Settings of the insights service (env prefix HEARTH_INSIGHTS_)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the insights service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_INSIGHTS_", extra="ignore")
