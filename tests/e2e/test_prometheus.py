"""A real Prometheus (Debian package) scrapes `hearth dev` and can query Hearth's metrics."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI
from tests.e2e.test_dev import free_port, start_dev, stop, wait_healthy


def prometheus_binary() -> str:
    found = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(found).exists():
        if IN_CI:
            pytest.fail("prometheus is not installed; `make test` installs it", pytrace=False)
        pytest.skip("prometheus is not installed (make test installs it)")
    return found


@pytest.mark.e2e
def test_prometheus_scrapes_hearth_metrics(tmp_path: Path) -> None:
    binary = prometheus_binary()
    port = free_port()
    dev = start_dev(tmp_path / "data", port)
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: hearth\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    prometheus = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, dev)
        for service in ("ingest", "moderation", "gamification", "insights"):
            httpx.get(f"{base}/v1/{service}/healthz")
        query = 'sum by (service) (hearth_http_requests_total{route=~"/v1/.*/healthz"})'
        deadline = time.monotonic() + 45
        services: set[str] = set()
        while time.monotonic() < deadline and len(services) < 4:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{prom_port}/api/v1/query", params={"query": query}
                ).json()
                services = {r["metric"]["service"] for r in answer["data"]["result"]}
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert services == {"ingest", "moderation", "gamification", "insights"}
        up = httpx.get(
            f"http://127.0.0.1:{prom_port}/api/v1/query", params={"query": "up{job='hearth'}"}
        ).json()
        assert up["data"]["result"][0]["value"][1] == "1"
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=20)
        stop(dev)
