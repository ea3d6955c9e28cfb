"""The code's layers stay one-way, and each service installs and imports only what it uses."""

from __future__ import annotations

import ast
import shutil
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
        " and m.count('.') >= 1} - {'cli', 'demo', 'embedded', 'registry'}))"
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


# Domain code is pure (STYLE.md habit 2): it takes values, file objects included, and
# returns decisions and events. No web, SQL, Kafka or HTTP client, no API schemas or
# repositories, and it opens no file itself.
DOMAIN_FORBIDDEN_IMPORTS = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "aiokafka",
    "httpx",
    "aiohttp",
    "shared.db",
    "shared.bus",
    "shared.api",
)
DOMAIN_FORBIDDEN_MODULES = ("schemas", "repository", "api", "tables")
FILE_OPENING_CALLS = {"open", "read_text", "read_bytes", "write_text", "write_bytes"}


def _domain_files() -> list[Path]:
    return sorted((ROOT / "services").glob("*/domain/**/*.py"))


def _io_module(module: str) -> bool:
    parts = module.split(".")
    if any(module == f or module.startswith(f + ".") for f in DOMAIN_FORBIDDEN_IMPORTS):
        return True
    return parts[0] == "services" and len(parts) > 2 and parts[2] in DOMAIN_FORBIDDEN_MODULES


def _impurities(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        found.extend(f"{path.name}:{node.lineno} imports {m}" for m in modules if _io_module(m))
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in FILE_OPENING_CALLS:
                found.append(f"{path.name}:{node.lineno} calls {name}()")
    return found


def test_there_is_domain_code_to_check() -> None:
    assert any("imports" in path.parts for path in _domain_files())


@pytest.mark.parametrize(
    "path", _domain_files(), ids=lambda p: str(p.relative_to(ROOT / "services"))
)
def test_domain_code_imports_no_io_and_opens_no_file(path: Path) -> None:
    assert _impurities(path) == []


def test_the_purity_check_catches_what_it_forbids(tmp_path: Path) -> None:
    impure = tmp_path / "impure.py"
    impure.write_text(
        "import sqlalchemy\n"
        "from services.ingest.schemas import EventIn\n"
        "from fastapi import APIRouter\n"
        "def load(path):\n"
        "    with open(path) as f:\n"
        "        return path.read_text()\n"
    )
    assert len(_impurities(impure)) == 5


# The layers of shared/ and the services' independence are import-linter contracts in
# pyproject.toml; `make lint` runs them too.
def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_are_kept() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_import_contracts_catch_an_upward_import(tmp_path: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for tree in ("shared", "services"):
        shutil.copytree(ROOT / tree, tmp_path / tree, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / "shared" / "events" / "envelope.py").open("a") as envelope:
        envelope.write("\nfrom shared.db.engine import Database  # noqa\n")
    with (tmp_path / "services" / "moderation" / "domain" / "__init__.py").open("a") as domain:
        domain.write("\nimport sqlalchemy  # noqa\n")

    done = _lint_imports(tmp_path)

    assert done.returncode != 0
    assert "shared.events.envelope -> shared.db.engine" in done.stdout
    assert "services.moderation.domain is not allowed to import sqlalchemy" in done.stdout
