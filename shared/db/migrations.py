"""Alembic, one history per service, each in its own PostgreSQL schema or SQLite file.

Migrations run on a connection we hand to alembic (`run_sync`), so they work the
same from `hearth migrate`, from a service's startup and from tests. On PostgreSQL an
advisory lock serialises replicas that start at the same time.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from shared.db.engine import Database


def alembic_config(script_location: Path, schema: str | None) -> Config:
    """An in-memory alembic Config for one service's migrations folder."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["schema"] = schema
    return config


async def upgrade(db: Database, script_location: Path, revision: str = "head") -> None:
    """Bring the service's schema to `revision`."""
    config = alembic_config(script_location, db.schema)
    async with db.engine.begin() as connection:
        await connection.run_sync(_upgrade, config, revision)


async def current_revision(db: Database) -> str | None:
    """The revision the database is at, None when never migrated."""
    async with db.engine.connect() as connection:
        return await connection.run_sync(_current, db.schema)


def head_revision(script_location: Path) -> str | None:
    """The newest revision in a migrations folder."""
    return ScriptDirectory.from_config(alembic_config(script_location, None)).get_current_head()


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    schema = config.attributes.get("schema")
    if connection.dialect.name == "postgresql" and schema:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(schema)})
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.execute(text(f'SET LOCAL search_path TO "{schema}"'))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _current(connection: Connection, schema: str | None) -> str | None:
    options = {"version_table_schema": schema} if _uses_schema(connection, schema) else {}
    return MigrationContext.configure(connection, opts=options).get_current_revision()


def _uses_schema(connection: Connection, schema: str | None) -> bool:
    return connection.dialect.name == "postgresql" and bool(schema)


def _lock_key(schema: str) -> int:
    return zlib.crc32(f"hearth-migrate:{schema}".encode())


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's migrations/env.py."""
    config = context.config
    connection: Connection | None = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `hearth migrate`, not the alembic command")
    schema = config.attributes.get("schema")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema if _uses_schema(connection, schema) else None,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
