"""Alembic, one history per service, each in its own PostgreSQL schema or SQLite file.

Migrations run on a connection we hand to alembic (`run_sync`), so they work the
same from `hearth migrate`, from a service's startup and from tests. On PostgreSQL an
advisory lock serialises replicas that start at the same time.
"""

from __future__ import annotations

import importlib.util
import tempfile
import uuid
import zlib
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from shared.db.engine import Database


def alembic_config(script_location: Path, schema: str | None) -> Config:
    """An in-memory alembic Config for one service's migrations folder."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
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


async def autogenerate(
    script_location: Path, message: str, *, database_url: str | None = None
) -> Path | None:
    """Write a revision that brings the migrations up to the tables the code declares.

    The migrations are first applied to a scratch database: a temporary SQLite file, or a
    throwaway schema on `database_url` (PostgreSQL), dropped afterwards. None when the
    tables and the migrations already agree: no empty revision is written.
    """
    with tempfile.TemporaryDirectory(prefix="hearth-makemigration-") as scratch:
        if database_url is None:
            db = Database(f"sqlite+aiosqlite:///{Path(scratch) / 'scratch.db'}", schema="scratch")
        else:
            db = Database(database_url, schema=f"makemigration_{uuid.uuid4().hex[:12]}")
        try:
            await upgrade(db, script_location)
            config = alembic_config(script_location, db.schema)
            async with db.engine.begin() as connection:
                written = await connection.run_sync(_revision, config, message)
        finally:
            if db.engine.dialect.name == "postgresql":
                async with db.engine.begin() as connection:
                    await connection.execute(text(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE'))
            await db.dispose()
    return written


def next_revision_id(script_location: Path) -> str:
    """The next id of a history numbered 0001, 0002 …"""
    scripts = ScriptDirectory.from_config(alembic_config(script_location, None))
    numbers = [int(r.revision) for r in scripts.walk_revisions() if r.revision.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


def _revision(connection: Connection, config: Config, message: str) -> Path | None:
    _enter_schema(connection, config.attributes.get("schema"))
    config.attributes["connection"] = connection
    config.attributes["process_revision_directives"] = _skip_empty
    _format_with_ruff(config)
    script = command.revision(
        config,
        message=message,
        autogenerate=True,
        rev_id=next_revision_id(Path(config.get_main_option("script_location") or ".")),
    )
    return Path(script.path) if isinstance(script, Script) else None


def _skip_empty(_context: object, _revision: object, directives: list[MigrationScript]) -> None:
    if all(script.upgrade_ops is None or script.upgrade_ops.is_empty() for script in directives):
        directives.clear()


def _format_with_ruff(config: Config) -> None:
    """Run ruff on the new revision when it is installed, so it passes `make lint`."""
    if importlib.util.find_spec("ruff") is None:
        return
    hooks = {"fix": "check --fix --quiet", "format": "format --quiet"}
    config.set_section_option("post_write_hooks", "hooks", ", ".join(hooks))
    for name, options in hooks.items():
        config.set_section_option("post_write_hooks", f"{name}.type", "module")
        config.set_section_option("post_write_hooks", f"{name}.module", "ruff")
        config.set_section_option(
            "post_write_hooks", f"{name}.options", f"{options} REVISION_SCRIPT_FILENAME"
        )


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    schema = config.attributes.get("schema")
    if connection.dialect.name == "postgresql" and schema:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(schema)})
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    _enter_schema(connection, schema)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _enter_schema(connection: Connection, schema: str | None) -> None:
    if connection.dialect.name == "postgresql" and schema:
        connection.execute(text(f'SET LOCAL search_path TO "{schema}"'))


def _current(connection: Connection, schema: str | None) -> str | None:
    options = {"version_table_schema": schema} if _uses_schema(connection, schema) else {}
    return MigrationContext.configure(connection, opts=options).get_current_revision()


def _uses_schema(connection: Connection, schema: str | None) -> bool:
    return connection.dialect.name == "postgresql" and bool(schema)


def _lock_key(schema: str) -> int:
    return zlib.crc32(f"hearth-migrate:{schema}".encode())


def _not_the_version_table(name: str | None, type_: str, _parents: object) -> bool:
    # In a schema on the search path alembic does not know its own table: never diff it.
    return not (type_ == "table" and name == "alembic_version")


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's migrations/env.py."""
    config = context.config
    connection: Connection | None = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `hearth migrate`, not the alembic command")
    schema = config.attributes.get("schema")
    options: dict[str, Any] = {}
    if (directives := config.attributes.get("process_revision_directives")) is not None:
        options["process_revision_directives"] = directives
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema if _uses_schema(connection, schema) else None,
        # Autogenerated revisions use batch operations: they run on SQLite and PostgreSQL.
        render_as_batch=True,
        compare_type=True,
        include_name=_not_the_version_table,
        **options,
    )
    with context.begin_transaction():
        context.run_migrations()
