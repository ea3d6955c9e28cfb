"""The Kubernetes manifests render with kustomize and hold together.

Rendered offline (`kubectl kustomize`, no cluster) and checked against a strict schema of
the fields they use (tests/ops/schemas/k8s-subset.json), then against Hearth itself: the
args each container runs are real `hearth` commands, the probes are the services' own, and
KEDA scales every consumer group on exactly the topics that service reads.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from services.registry import SERVICES
from shared.bus.settings import KafkaSettings
from tests.conftest import IN_CI
from tests.ops.compose import load_compose, parse_cli
from tests.ops.panels import ROOT

K8S = ROOT / "deploy" / "k8s"
SUBSET = json.loads((Path(__file__).parent / "schemas" / "k8s-subset.json").read_text())


@functools.cache
def render(folder: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        if IN_CI:
            pytest.fail("kubectl (with its built-in kustomize) is not installed")
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    done = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(params=["base", "overlays/example"])
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return json.loads(json.dumps(render(K8S / request.param)))  # a copy per test


@pytest.fixture
def example() -> list[dict[str, Any]]:
    return json.loads(json.dumps(render(K8S / "overlays" / "example")))


def schema_errors(doc: dict[str, Any]) -> list[str]:
    kind = f"{doc.get('apiVersion')}/{doc.get('kind')}"
    if kind not in SUBSET["kinds"]:
        return [f"{kind}: not a kind deploy/k8s is meant to use"]
    schema = {**SUBSET["kinds"][kind], "definitions": SUBSET["definitions"]}
    return [
        f"{kind} {doc['metadata'].get('name')}: {list(e.path)}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(doc)
    ]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def test_every_rendered_object_matches_the_kubernetes_schema(
    rendered: list[dict[str, Any]],
) -> None:
    errors = [error for doc in rendered for error in schema_errors(doc)]
    assert not errors, "\n".join(errors)


def test_a_misspelt_field_is_an_error(example: list[dict[str, Any]]) -> None:
    deployment = json.loads(json.dumps(by_kind(example, "Deployment")["hearth-ingest"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}
    assert schema_errors(deployment)


def test_one_deployment_per_service_on_its_own_probes(rendered: list[dict[str, Any]]) -> None:
    deployments = by_kind(rendered, "Deployment")
    assert set(deployments) == {f"hearth-{name}" for name in SERVICES}
    for name in SERVICES:
        pod = deployments[f"hearth-{name}"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        command, params = parse_cli(container["args"])
        assert (command, params["service"], params["port"]) == ("serve", name, 8000)
        port = container["ports"][0]["name"]
        assert container["readinessProbe"]["httpGet"] == {
            "path": f"/v1/{name}/readyz",
            "port": port,
        }
        assert container["livenessProbe"]["httpGet"] == {
            "path": f"/v1/{name}/healthz",
            "port": port,
        }
        assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_migration_job_runs_what_compose_runs(rendered: list[dict[str, Any]]) -> None:
    (job,) = by_kind(rendered, "Job").values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    compose = load_compose({"HEARTH_INGEST_SECRETS_KEY": "-"})
    assert container["args"] == compose["services"]["migrate"]["command"]
    assert parse_cli(container["args"])[0] == "migrate"


def test_configuration_comes_from_the_configmap_and_secret_rendered_beside(
    example: list[dict[str, Any]],
) -> None:
    config_maps, secrets = by_kind(example, "ConfigMap"), by_kind(example, "Secret")
    (config,) = config_maps.values()
    assert config["data"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka-bootstrap.kafka:9092"
    (secret,) = secrets.values()
    assert {"DATABASE_URL", "HEARTH_INGEST_SECRETS_KEY"} <= set(secret["data"])
    pods = [d["spec"]["template"]["spec"] for d in example if d["kind"] in ("Deployment", "Job")]
    for pod in pods:
        sources = pod["containers"][0]["envFrom"]
        assert {s["configMapRef"]["name"] for s in sources if "configMapRef" in s} <= set(
            config_maps
        )
        assert {s["secretRef"]["name"] for s in sources if "secretRef" in s} == set(secrets)


def test_keda_scales_each_consumer_on_the_topics_its_group_reads(
    rendered: list[dict[str, Any]],
) -> None:
    scaled = by_kind(rendered, "ScaledObject")
    deployments = by_kind(rendered, "Deployment")
    consumers = {name: spec for name, spec in SERVICES.items() if spec.topics}
    assert set(scaled) == {f"hearth-{name}" for name in consumers}
    for name, spec in consumers.items():
        scaling = scaled[f"hearth-{name}"]["spec"]
        assert scaling["scaleTargetRef"]["name"] in deployments
        triggers = scaling["triggers"]
        assert {t["type"] for t in triggers} == {"kafka"}
        assert {t["metadata"]["consumerGroup"] for t in triggers} == {f"hearth-{name}"}
        assert sorted(t["metadata"]["topic"] for t in triggers) == sorted(spec.topics)
        # more members than partitions would sit idle
        assert scaling["maxReplicaCount"] <= KafkaSettings().partitions
        env = [
            t["metadata"].get("bootstrapServersFromEnv") or t["metadata"]["bootstrapServers"]
            for t in triggers
        ]
        assert env == ["KAFKA_BOOTSTRAP_SERVERS"] * len(triggers)


def test_the_example_overlay_sets_namespace_image_and_routes_by_prefix(
    example: list[dict[str, Any]],
) -> None:
    for doc in example:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "hearth", doc["metadata"]["name"]
    for deployment in by_kind(example, "Deployment").values():
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == "registry.example.com/hearth:0.1.0"
    services = by_kind(example, "Service")
    (ingress,) = by_kind(example, "Ingress").values()
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    routed = {p["path"]: p["backend"]["service"] for p in paths}
    for name in SERVICES:
        backend = routed[f"/v1/{name}"]
        assert backend["name"] == f"hearth-{name}"
        port_names = {port["name"] for port in services[backend["name"]]["spec"]["ports"]}
        assert backend["port"]["name"] in port_names
