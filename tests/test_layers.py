"""The code's layers stay one-way, and each service installs and imports only what it uses."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_SDKS = ("aiogram", "discord", "slack_sdk", "githubkit")
SDK_DISTRIBUTIONS = ("aiogram", "discord.py", "slack-sdk", "githubkit")
LEAN_SERVICES = ("moderation", "gamification", "insights")

# Builds everything `hearth serve SERVICE` builds before uvicorn starts, then reports
# which of the modules a lean service must not need were imported on the way.
_SERVE_PROBE = """
import sys
import services.{service}.__main__
from services.embedded import distributed_host
distributed_host(
    "{service}",
    database_url="postgresql+asyncpg://probe@127.0.0.1:9/probe",
    bootstrap_servers="127.0.0.1:9",
).create_app()
unwanted = ("services.ingest",) + {sdks!r}
print(sorted({{m for m in sys.modules for u in unwanted if m == u or m.startswith(u + ".")}}))
"""


@pytest.mark.parametrize("service", LEAN_SERVICES)
def test_serving_a_service_imports_neither_ingest_nor_a_platform_sdk(service: str) -> None:
    probe = _SERVE_PROBE.format(service=service, sdks=PLATFORM_SDKS)
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_cli_help_does_not_import_any_service() -> None:
    probe = (
        "import sys; from typer.testing import CliRunner; from services.cli import app;"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0;"
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('services.')"
        " and m.count('.') >= 1} - {'cli', 'embedded', 'registry'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _requirement_name(requirement: str) -> str:
    for stop in "[=<>!~;@ ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.strip().lower()


def _closure(extra: str, project: dict) -> set[str]:
    """Distribution names `pip install hearth[extra]` asks for, self-references followed."""
    name = project["name"]
    extras = project["optional-dependencies"]
    seen: set[str] = set()
    wanted = {_requirement_name(r) for r in project["dependencies"]}
    pending = [extra]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for requirement in extras[current]:
            if _requirement_name(requirement) == name:
                inner = requirement.split("[", 1)[1].split("]", 1)[0]
                pending.extend(part.strip() for part in inner.split(","))
            else:
                wanted.add(_requirement_name(requirement))
    return wanted


def test_lean_service_extras_pull_no_platform_sdk() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for service in LEAN_SERVICES:
        pulled = _closure(service, project)
        assert not pulled & set(SDK_DISTRIBUTIONS), (service, sorted(pulled))
    everything = _closure("dev", project)
    assert set(SDK_DISTRIBUTIONS) <= everything, "make test must still install ingest's SDKs"
    assert set(SDK_DISTRIBUTIONS) <= _closure("ingest", project)
