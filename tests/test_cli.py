"""`hearth` commands as an operator uses them."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import text
from typer.testing import CliRunner

from services import registry
from services.cli import app
from shared.db.engine import Database
from tests.shared.conftest import drop_schema
from tests.shared.db.test_migrations import assert_migrations_match_tables

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent


def test_admin_creates_tenants_and_keys_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The embedded data dir, not the suite's PostgreSQL that DATABASE_URL points at.
    monkeypatch.delenv("DATABASE_URL", raising=False)
    data = ["--data-dir", str(tmp_path)]
    created = runner.invoke(app, ["admin", "create-tenant", "acme", "--name", "Acme", *data])
    assert created.exit_code == 0, created.output
    again = runner.invoke(app, ["admin", "create-tenant", "acme", *data])
    assert again.exit_code == 1 and "already exists" in again.output
    key = runner.invoke(
        app, ["admin", "create-key", "--tenant", "acme", "--scope", "events:write", *data]
    )
    assert key.exit_code == 0, key.output
    assert key.stdout.strip().splitlines()[-1].startswith("hth_")
    missing = runner.invoke(
        app, ["admin", "create-key", "--tenant", "nobody", "--scope", "admin", *data]
    )
    assert missing.exit_code == 1 and "no tenant" in missing.output


def test_schema_check_passes_on_the_checked_in_contracts() -> None:
    checked = runner.invoke(app, ["schema", "--check"])
    assert checked.exit_code == 0, checked.output


def test_schema_check_fails_when_docs_drift(tmp_path: Path) -> None:
    assert runner.invoke(app, ["schema", "--docs-dir", str(tmp_path)]).exit_code == 0
    (tmp_path / "asyncapi.json").write_text("{}")
    drifted = runner.invoke(app, ["schema", "--check", "--docs-dir", str(tmp_path)])
    assert drifted.exit_code == 1 and "asyncapi.json" in drifted.output


def test_serve_refuses_an_unknown_service() -> None:
    answer = runner.invoke(app, ["serve", "billing"])
    assert answer.exit_code == 2 and "unknown service" in answer.output


_TABLES = """
from sqlalchemy import Boolean, Column, String, Table
from shared.db.tables import service_metadata

metadata = service_metadata()
notes = Table(
    "notes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("body", String(200), nullable=False),
{extra}
)
"""
_APP = """
from pathlib import Path
from {package}.tables import metadata
from shared.service import ServiceSpec

MIGRATIONS = Path(__file__).parent / "migrations"
SPEC = ServiceSpec(name="scratch", metadata=metadata, handlers={{}}, migrations=MIGRATIONS)
"""


class ScratchService:
    """A service of the test's own, with moderation's migrations copied in as its history."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.package = f"scratch_{uuid.uuid4().hex[:8]}"
        self.folder = root / self.package
        shutil.copytree(REPO / "services" / "moderation" / "migrations", self.folder / "migrations")
        # Only the kit's first revision: moderation's own history grows with moderation.
        for revision in (self.folder / "migrations" / "versions").glob("*.py"):
            if not revision.name.startswith("0001_"):
                revision.unlink()
        (self.folder / "__init__.py").write_text("")
        (self.folder / "app.py").write_text(_APP.format(package=self.package))
        (self.folder / "migrations" / "env.py").write_text(
            f"from {self.package}.tables import metadata\n"
            "from shared.db.migrations import run_env\n\nrun_env(metadata)\n"
        )
        monkeypatch.syspath_prepend(str(root))
        monkeypatch.setattr(sys, "dont_write_bytecode", True)
        monkeypatch.setitem(registry.SPEC_PATHS, "scratch", f"{self.package}.app:SPEC")
        self.declare("")

    def declare(self, extra_columns: str) -> None:
        """Rewrite tables.py; the next import reads the new version."""
        (self.folder / "tables.py").write_text(_TABLES.format(extra=extra_columns))
        for name in (f"{self.package}.tables", f"{self.package}.app"):
            sys.modules.pop(name, None)

    def revisions(self) -> list[Path]:
        return sorted((self.folder / "migrations" / "versions").glob("*.py"))

    def makemigration(self, message: str, *options: str) -> Result:
        return runner.invoke(app, ["makemigration", "scratch", "-m", message, *options])


async def _assert_head_matches_tables(url: str, schema: str) -> None:
    spec = registry.load_service("scratch")
    db = Database(url, schema=schema, pool_size=2)
    try:
        await assert_migrations_match_tables(db, spec.metadata, spec.migrations)
    finally:
        await drop_schema(db)
        await db.dispose()


def test_makemigration_writes_the_revision_that_adds_a_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = ScratchService(tmp_path, monkeypatch)

    created = scratch.makemigration("notes")
    assert created.exit_code == 0, created.output
    scratch.declare('    Column("pinned", Boolean(), nullable=True),')
    added = scratch.makemigration("pin notes")
    assert added.exit_code == 0, added.output

    *_, notes, pinned = scratch.revisions()
    assert notes.name == "0002_notes.py" and "create_table" in notes.read_text()
    assert pinned.name == "0003_pin_notes.py"
    text = pinned.read_text()
    assert (
        "add_column" in text and '"pinned"' in text and 'down_revision: str | None = "0002"' in text
    )
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(pinned)], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    asyncio.run(_assert_head_matches_tables(url, "scratch"))

    again = scratch.makemigration("nothing")
    assert again.exit_code == 1 and "no changes" in again.output
    assert scratch.revisions()[-1] == pinned


@pytest.mark.integration
def test_makemigration_compares_on_postgresql_and_leaves_no_schema_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    scratch = ScratchService(tmp_path, monkeypatch)

    created = scratch.makemigration("notes", "--database-url", postgres_url)
    assert created.exit_code == 0, created.output
    assert scratch.revisions()[-1].name == "0002_notes.py"
    schema = f"m_{uuid.uuid4().hex[:12]}"
    asyncio.run(_assert_head_matches_tables(postgres_url, schema))
    assert asyncio.run(_scratch_schemas(postgres_url)) == []


async def _scratch_schemas(url: str) -> list[str]:
    db = Database(url, pool_size=1)
    try:
        async with db.engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'makemigration_%'")
            )
            return [row[0] for row in rows]
    finally:
        await db.dispose()
