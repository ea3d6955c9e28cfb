"""Settings of the ingest service (env prefix HEARTH_INGEST_)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the ingest service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_INGEST_", extra="ignore")
