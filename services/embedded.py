"""The embedded default: all four services in one process on SQLite files (bus included)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from services.registry import SERVICES
from shared.bus.sqlite import SqliteBus
from shared.db.engine import Database
from shared.host import Host
from shared.service import ServiceSpec

DEV_TENANT = "dev"
SECRETS_KEY_ENV = "HEARTH_INGEST_SECRETS_KEY"


def sqlite_url(path: Path) -> str:
    """An aiosqlite URL for a file."""
    return f"sqlite+aiosqlite:///{path.resolve()}"


def ensure_secrets_key(data_dir: Path) -> None:
    """Give the embedded mode a key for binding secrets, kept in data_dir/secrets.key."""
    if os.environ.get(SECRETS_KEY_ENV):
        return
    key_file = data_dir / "secrets.key"
    if not key_file.exists():
        # Imported here: `hearth serve moderation` must not load ingest (nor its SDKs).
        from services.ingest.secrets import SecretBox

        key_file.write_text(SecretBox.new_key() + "\n", encoding="utf-8")
        key_file.chmod(0o600)
    os.environ[SECRETS_KEY_ENV] = key_file.read_text(encoding="utf-8").strip()


def embedded_host(
    data_dir: Path,
    *,
    services: dict[str, ServiceSpec] | None = None,
    settings: Mapping[str, object] | None = None,
) -> Host:
    """A Host running every service on the durable SQLite bus (data_dir/bus.db), a file each.

    `settings` maps a service name to its settings object, used instead of the environment.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_secrets_key(data_dir)
    chosen = services or SERVICES
    hosted = [
        (spec, Database(sqlite_url(data_dir / f"{name}.db"), schema=name))
        for name, spec in chosen.items()
    ]
    return Host(
        hosted,
        bus=SqliteBus(data_dir / "bus.db"),
        tenancy_db=Database(sqlite_url(data_dir / "hearth.db"), schema="hearth"),
        settings=settings,
    )


def distributed_host(
    name: str, *, database_url: str, bootstrap_servers: str, **kafka: object
) -> Host:
    """A Host running one service on Kafka and its PostgreSQL schema."""
    from shared.bus.kafka import KafkaBus

    spec = SERVICES[name]
    bus = KafkaBus(bootstrap_servers, client_id=f"hearth-{name}", **kafka)  # type: ignore[arg-type]
    return Host(
        [(spec, Database(database_url, schema=name))],
        bus=bus,
        tenancy_db=Database(database_url, schema="hearth", pool_size=2),
        title=f"Hearth {name}",
    )
