"""`hearth` commands as an operator uses them."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from services.cli import app

runner = CliRunner()


def test_admin_creates_tenants_and_keys_once(tmp_path: Path) -> None:
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
