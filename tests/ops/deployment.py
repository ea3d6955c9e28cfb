"""The distributed deployment as compose runs it, natively: the commands of
docker-compose.yml's `migrate` and service containers (listening on free local ports
instead of :8000), `hearth admin bootstrap` as docs/operations.md says, on Kafka and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from services.ingest.secrets import SecretBox
from tests.ops.compose import load_compose
from tests.stack import free_port

SERVICES = ("ingest", "moderation", "gamification", "insights")


def hearth(*args: str) -> list[str]:
    """The `hearth` command line, run from this checkout's interpreter."""
    return [sys.executable, "-m", "services.cli", *args]


def compose_command(service: str, **overrides: str) -> list[str]:
    """The command docker-compose.yml runs for a service, with some option values replaced."""
    command = list(load_compose({"HEARTH_INGEST_SECRETS_KEY": "-"})["services"][service]["command"])
    for option, value in overrides.items():
        command[command.index(f"--{option}") + 1] = value
    return command


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A database of its own on the suite's PostgreSQL server, dropped at the end."""
    name = f"hearth_ops_{uuid.uuid4().hex[:12]}"
    dsn = server_url.replace("postgresql+asyncpg://", "postgresql://")

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Deployment:
    """The four services, each its own process, and where they answer."""

    env: dict[str, str]
    logs: Path
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    receiver: str = ""
    """A webhook URL the traffic's routing rules deliver to."""

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A one-off `hearth` command with the deployment's environment; fails if it does."""
        done = subprocess.run(
            hearth(*args), env=self.env, capture_output=True, text=True, timeout=180, check=False
        )
        assert done.returncode == 0, f"hearth {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def start(self) -> None:
        for service in SERVICES:
            self.ports[service] = free_port()
            log = (self.logs / f"{service}.log").open("wb")
            command = compose_command(service, host="127.0.0.1", port=str(self.ports[service]))
            self.processes[service] = subprocess.Popen(
                hearth(*command),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        waiting = set(SERVICES)
        while waiting and time.monotonic() < deadline:
            for service in sorted(waiting):
                process = self.processes[service]
                assert process.poll() is None, f"{service} exited:\n{self.log(service)}"
                try:
                    ready = httpx.get(f"{self.url(service)}/v1/{service}/readyz", timeout=3)
                    if ready.status_code == 200:
                        waiting.discard(service)
                except httpx.HTTPError:
                    pass
            time.sleep(0.5)
        assert not waiting, f"not ready in {timeout:g}s: {waiting}\n" + "\n".join(
            self.log(s) for s in waiting
        )

    def log(self, service: str) -> str:
        return (self.logs / f"{service}.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextmanager
def deployment(database_url: str, bootstrap_servers: str, logs: Path) -> Iterator[Deployment]:
    """Migrate once, then run every service as compose does; stop them all at the end."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "HEARTH_INGEST_SECRETS_KEY": SecretBox.new_key(),
        # the clusters-by-intent gauge is set by each re-clustering pass (default: 5 min)
        "HEARTH_INSIGHTS_RECLUSTER_INTERVAL_SECONDS": "2",
    }
    running = Deployment(env=env, logs=logs)
    running.run(*compose_command("migrate"))
    running.start()
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()
