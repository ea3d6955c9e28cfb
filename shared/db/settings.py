"""Database settings, composed into every service's Settings."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    """Where a service keeps its state (env prefix HEARTH_DATABASE_, or DATABASE_URL)."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_DATABASE_", extra="ignore")

    url: str = Field(
        default="postgresql+asyncpg://hearth:hearth@127.0.0.1:55432/hearth",
        validation_alias=AliasChoices("HEARTH_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy async URL: postgresql+asyncpg://… or sqlite+aiosqlite:///…",
    )
    pool_size: int = Field(default=10, ge=1)
    echo: bool = False
