"""docker-compose.yml is a valid Compose file whose services start as Hearth's CLI expects.

No Docker engine runs here: the file is checked against the Compose Specification's JSON
Schema (vendored in tests/ops/schemas) and its commands against the real `hearth` CLI; the
same commands run natively in tests/ops/test_dashboards_live.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from setuptools import find_namespace_packages

from services.registry import SERVICES
from tests.ops.compose import MissingVariable, load_compose, parse_cli
from tests.ops.panels import ROOT

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "compose-spec.json").read_text())
ENV = {"HEARTH_INGEST_SECRETS_KEY": "a" * 43 + "="}
HEARTH_IMAGE = "hearth:local"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose(ENV)


def hearth_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") == HEARTH_IMAGE
    }


def test_the_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    errors = sorted(
        jsonschema.Draft7Validator(SCHEMA).iter_errors(compose), key=lambda e: list(e.path)
    )
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_a_typo_is_caught_by_the_schema(compose: dict[str, Any]) -> None:
    broken = {**compose, "services": {**compose["services"]}}
    broken["services"]["ingest"] = {**compose["services"]["ingest"], "restrat": "always"}
    assert not jsonschema.Draft7Validator(SCHEMA).is_valid(broken)


def test_compose_refuses_to_start_without_the_secrets_key_instead_of_crash_looping() -> None:
    with pytest.raises(MissingVariable, match=r"HEARTH_INGEST_SECRETS_KEY.*\.env"):
        load_compose({})


def test_every_service_runs_from_the_one_image_with_the_secrets_key(
    compose: dict[str, Any],
) -> None:
    services = hearth_services(compose)
    assert set(services) == {*SERVICES, "migrate"}
    for name, service in services.items():
        assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile", name
        env = service["environment"]
        assert env["HEARTH_INGEST_SECRETS_KEY"] == ENV["HEARTH_INGEST_SECRETS_KEY"], name
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_the_commands_compose_runs_are_ones_the_cli_has(compose: dict[str, Any]) -> None:
    for name, service in hearth_services(compose).items():
        command, params = parse_cli(service["command"])
        if name == "migrate":
            assert (command, params["service"]) == ("migrate", "all")
        else:
            assert (command, params["service"], params["host"], params["port"]) == (
                "serve",
                name,
                "0.0.0.0",
                8000,
            )
    # the documented first-start command (top of docker-compose.yml, docs/operations.md)
    documented = re.search(
        r"docker compose run --rm migrate (admin bootstrap)",
        (ROOT / "docker-compose.yml").read_text(),
    )
    assert documented is not None
    assert parse_cli(documented.group(1).split())[0] == "bootstrap"


def test_migrations_run_once_before_the_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in SERVICES:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["kafka"]["condition"] == "service_healthy", name


def test_every_long_running_service_has_a_healthcheck_and_a_restart_policy(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        if name == "migrate":
            continue
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
    for name in SERVICES:
        probe = " ".join(compose["services"][name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:8000/v1/{name}/readyz" in probe, "the service's own probe"


def test_bind_mounts_name_files_of_the_repository(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source}"
            else:
                assert source in compose["volumes"], f"{name}: {source} is not a named volume"


def test_kafka_is_the_official_image_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_the_dockerfile_builds_in_stages_and_runs_as_a_non_root_user() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "deploy/docker/Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) >= 2, "multi-stage"
    final = lines[lines.index(stages[-1]) :]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["hearth"]' in final
    assert any(line.startswith("COPY --from=") for line in final), "only the build's output"
    for line in lines:
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


def test_the_image_installs_the_migrations_and_models_as_package_data() -> None:
    # `pip install .` (not editable) keeps what setuptools finds: namespace packages
    # included, so migration folders without __init__.py are in the image too.
    packages = set(find_namespace_packages(str(ROOT), include=["shared*", "services*"]))
    for name in SERVICES:
        assert f"services.{name}.migrations.versions" in packages
    assert "shared.tenancy.migrations.versions" in packages
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "namespaces = false" not in pyproject
