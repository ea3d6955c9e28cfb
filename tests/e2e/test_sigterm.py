"""`hearth serve ingest` stops on SIGTERM within its grace period, even right after its
database restarted (it used to hang until killed).

The service runs on a PostgreSQL of the test's own, which the test restarts, and on a broker
of its own too (tests/stack.py): `hearth serve ingest` joins the `hearth-ingest` consumer
group, which on the shared broker would take (and dead-letter) other tests' events.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.ingest.secrets import SecretBox
from tests.stack import Postgres, free_port, own_broker, own_postgres

# What an orchestrator gives a container before SIGKILL is 30 s by default; ours is stricter.
GRACE_SECONDS = 15
# uvicorn re-raises the SIGTERM it handled once shutdown is complete.
CLEAN_EXITS = (0, -signal.SIGTERM)


def serve_ingest(postgres: Postgres, kafka: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": postgres.url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "HEARTH_INGEST_SECRETS_KEY": SecretBox.new_key(),
        "HEARTH_INGEST_LOG_LEVEL": "INFO",
    }
    with log.open("wb") as out:  # a file, not a pipe: a full pipe would block the service
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", "ingest", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def wait_until(ready: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"hearth serve exited:\n{log.read_text()[-4000:]}"
        try:
            if httpx.get(ready, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"not ready within {timeout:g}s:\n{log.read_text()[-4000:]}")


@pytest.mark.e2e
@pytest.mark.integration
def test_sigterm_right_after_a_database_restart_stops_within_the_grace_period(
    tmp_path: Path,
) -> None:
    log = tmp_path / "serve.log"
    with own_broker(tmp_path / "stack") as broker, own_postgres() as postgres:
        port = free_port()
        process = serve_ingest(postgres, broker.bootstrap, port, log)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until(f"{base}/v1/ingest/readyz", process, log, timeout=120)

            postgres.stop()
            postgres.start()
            # a request on the stale pool, as a platform's webhook would make
            httpx.get(f"{base}/v1/ingest/readyz", timeout=5)

            sent = time.monotonic()
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError(
                    f"still running {GRACE_SECONDS}s after SIGTERM:\n{log.read_text()[-6000:]}"
                ) from None
            took = time.monotonic() - sent
            print(f"exited with {code} {took:.1f}s after SIGTERM")
            assert code in CLEAN_EXITS, log.read_text()[-4000:]
            assert "crashed; restarting" not in log.read_text().split('"Shutting down"')[-1]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
