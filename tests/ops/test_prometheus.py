"""The Prometheus config and alert rules under deploy/prometheus pass promtool's checks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(binary).exists():
        if IN_CI:
            pytest.fail("promtool is not installed (the prometheus package has it)")
        pytest.skip("promtool is not installed (the prometheus package has it)")
    return subprocess.run(
        [binary, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus.local.yml"])
def test_the_scrape_configs_are_valid(config: str) -> None:
    done = promtool("check", "config", "--syntax-only", config)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alert_rules_are_valid() -> None:
    done = promtool("check", "rules", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 rules found" in done.stdout


def test_the_alerts_fire_when_they_should_and_only_then() -> None:
    done = promtool("test", "rules", "alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
