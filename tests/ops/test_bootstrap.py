"""`hearth admin bootstrap`: the one command that gives a fresh deployment an admin key."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app

runner = CliRunner()


def test_bootstrap_creates_the_tenant_once_and_prints_a_new_admin_key_each_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    data = ["--data-dir", str(tmp_path)]
    first = runner.invoke(app, ["admin", "bootstrap", *data])
    assert first.exit_code == 0, first.output
    assert "created tenant main" in first.stderr
    key = first.stdout.strip()
    assert key.startswith("hth_") and "\n" not in key, "stdout is the key alone"

    second = runner.invoke(app, ["admin", "bootstrap", *data])
    assert second.exit_code == 0, second.output
    assert "found tenant main" in second.stderr
    assert second.stdout.strip() != key

    keys = runner.invoke(app, ["admin", "list-keys", "--tenant", "main", *data])
    lines = keys.stdout.strip().splitlines()
    assert len(lines) == 2 and all("\tactive\tadmin\t" in line for line in lines)
    assert key not in keys.stdout, "keys are stored hashed, never listed"


def test_bootstrap_refuses_a_deleted_tenants_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    data = ["--data-dir", str(tmp_path)]
    assert runner.invoke(app, ["admin", "bootstrap", "--tenant", "gone", *data]).exit_code == 0
    deleted = runner.invoke(app, ["admin", "delete-tenant", "gone", "--yes", *data])
    assert deleted.exit_code == 0, deleted.output
    again = runner.invoke(app, ["admin", "bootstrap", "--tenant", "gone", *data])
    assert again.exit_code == 1 and "not reused" in again.output
