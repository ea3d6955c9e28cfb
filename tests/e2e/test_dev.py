"""`hearth dev` as a newcomer runs it: starts, answers health, serves metrics, keeps its key."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

SERVICES = ("ingest", "moderation", "gamification", "insights")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_dev(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DATABASE_"))}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "dev",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def wait_healthy(base: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"hearth dev exited: {process.stdout.read()}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{base}/v1/ingest/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("hearth dev did not become ready")


def stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    try:
        out, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    port = free_port()
    process = start_dev(tmp_path / "data", port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        yield base, tmp_path / "data", process
    finally:
        if process.poll() is None:
            stop(process)


@pytest.mark.e2e
def test_dev_serves_every_service_health_and_metrics(dev) -> None:
    base, _, _ = dev
    for service in SERVICES:
        health = httpx.get(f"{base}/v1/{service}/healthz")
        assert health.status_code == 200, service
        ready = httpx.get(f"{base}/v1/{service}/readyz")
        assert ready.status_code == 200, ready.text
    metrics = httpx.get(f"{base}/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "hearth_http_requests_total" in metrics.text
    assert 'route="/v1/ingest/healthz"' in metrics.text
    openapi = httpx.get(f"{base}/openapi.json").json()
    for service in SERVICES:
        assert f"/v1/{service}/healthz" in openapi["paths"]


@pytest.mark.e2e
def test_dev_creates_the_dev_tenant_key_once(dev, tmp_path: Path) -> None:
    _, data_dir, process = dev
    key_file = data_dir / "dev-api-key"
    key = key_file.read_text().strip()
    assert key.startswith("hth_")
    output = stop(process)
    assert key in output, "the first start prints the admin key"
    assert (data_dir / "ingest.db").exists() and (data_dir / "hearth.db").exists()

    port = free_port()
    again = start_dev(data_dir, port)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", again)
    finally:
        second_output = stop(again)
    assert key_file.read_text().strip() == key, "a restart keeps the same key"
    assert key not in second_output, "the key is printed only when created"


@pytest.mark.e2e
def test_hearth_import_backfills_history_once(dev, tmp_path: Path) -> None:
    base, data_dir, _ = dev
    key = (data_dir / "dev-api-key").read_text().strip()
    auth = {"Authorization": f"Bearer {key}"}
    community = httpx.post(
        f"{base}/v1/ingest/communities", json={"name": "History"}, headers=auth
    ).json()["id"]
    export = Path(__file__).resolve().parents[1] / "ingest/payloads/imports/telegram_result.json"
    command = [
        sys.executable,
        "-m",
        "services.cli",
        "import",
        str(export),
        "--community",
        community,
        "--api-url",
        base,
        "--api-key",
        key,
        "--state-dir",
        str(tmp_path / "state"),
    ]
    first = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    assert key not in first.stdout + first.stderr
    events = httpx.get(
        f"{base}/v1/ingest/events", params={"community_id": community}, headers=auth
    ).json()["items"]
    assert events and all(e["backfilled"] for e in events)
    second = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 0, second.stdout + second.stderr
    again = httpx.get(
        f"{base}/v1/ingest/events", params={"community_id": community}, headers=auth
    ).json()["items"]
    assert len(again) == len(events), "a rerun imports nothing twice"
