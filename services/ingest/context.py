"""What the ingest routes and handlers share: settings, the bus, the database, secrets."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.ingest.secrets import SecretBox
from services.ingest.settings import Settings
from shared.bus.port import Bus
from shared.db.engine import Database
from shared.events.community import Platform


class MissingSecretsKey(RuntimeError):
    """HEARTH_INGEST_SECRETS_KEY is not set, so binding secrets cannot be stored."""


@dataclass
class IngestContext:
    """The ingest service's dependencies, built once per process."""

    settings: Settings
    db: Database
    bus: Bus
    secrets: SecretBox
    platform_urls: dict[Platform, str] = field(default_factory=dict)


def setup(settings: Settings, db: Database, bus: Bus) -> IngestContext:
    """Build the context from what the composition root passes; fails fast without a key."""
    if settings.secrets_key is None:
        raise MissingSecretsKey(
            "set HEARTH_INGEST_SECRETS_KEY to a Fernet key (python -c 'from "
            "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    return IngestContext(
        settings=settings,
        db=db,
        bus=bus,
        secrets=SecretBox(settings.secrets_key.get_secret_value()),
        platform_urls={
            Platform.TELEGRAM: settings.telegram_api_url,
            Platform.SLACK: settings.slack_api_url,
            Platform.DISCORD: settings.discord_api_url,
            Platform.GITHUB: settings.github_api_url,
        },
    )
