"""Every service's migrations apply to an empty PostgreSQL schema and SQLite file, and
leave exactly the tables the code declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from ulid import ULID

from services.registry import SERVICES
from shared.db.engine import Database
from shared.db.migrations import current_revision, head_revision, upgrade
from shared.tenancy import tables as tenancy_tables
from shared.tenancy.repository import MIGRATIONS as TENANCY_MIGRATIONS
from tests.shared.conftest import drop_schema

TARGETS = {name: (spec.metadata, spec.migrations) for name, spec in SERVICES.items()}
TARGETS["hearth"] = (tenancy_tables.metadata, TENANCY_MIGRATIONS)


def _diff(connection: Connection, metadata: MetaData, schema: str | None) -> list:
    options = {"include_schemas": False}
    if schema and connection.dialect.name == "postgresql":
        options["version_table_schema"] = schema
    context = MigrationContext.configure(connection, opts=options)
    return [d for d in compare_metadata(context, metadata) if "alembic_version" not in str(d)]


async def assert_migrations_match_tables(
    db: Database, metadata: MetaData, migrations: Path
) -> None:
    """Empty → head applies twice, and leaves exactly the tables the code declares."""
    assert await current_revision(db) is None
    await upgrade(db, migrations)
    await upgrade(db, migrations)  # a second run is a no-op
    assert await current_revision(db) == head_revision(migrations)
    async with db.engine.connect() as connection:
        diff = await connection.run_sync(_diff, metadata, db.schema)
    assert diff == [], f"migrations and tables.py disagree: {diff}"


@pytest.mark.parametrize("target", sorted(TARGETS))
async def test_migrations_apply_to_empty_sqlite(target: str, tmp_path: Path) -> None:
    metadata, migrations = TARGETS[target]
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", schema=target)
    try:
        await assert_migrations_match_tables(db, metadata, migrations)
    finally:
        await db.dispose()


@pytest.mark.integration
@pytest.mark.parametrize("target", sorted(TARGETS))
async def test_migrations_apply_to_empty_postgresql(target: str, postgres_url: str) -> None:
    metadata, migrations = TARGETS[target]
    db = Database(postgres_url, schema=f"m_{str(ULID()).lower()}", pool_size=2)
    try:
        await assert_migrations_match_tables(db, metadata, migrations)
    finally:
        await drop_schema(db)
        await db.dispose()
