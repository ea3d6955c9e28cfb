"""Throwaway Kafka and PostgreSQL instances for fault tests, through deploy/local/stack.

A fault test stops and restarts its own instance (own folder, free ports), never the
shared stack the rest of the suite runs on.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import IN_CI

STACK = Path(__file__).resolve().parents[1] / "deploy" / "local" / "stack"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_native_stack() -> None:
    """Skip outside `make test` (deploy/local is what starts throwaway instances)."""
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and not IN_CI:
        pytest.skip("needs the native stack (make test)")


class Instance:
    """One component (kafka or postgres) of a stack kept in its own folder."""

    def __init__(self, component: str, folder: Path, ports: dict[str, int]) -> None:
        self.component = component
        self.folder = folder
        self.ports = ports
        self.env = {
            **os.environ,
            "HEARTH_STACK_DIR": str(folder),
            **{name: str(port) for name, port in ports.items()},
        }

    def run(self, command: str) -> None:
        """`stack <command> <component>`; fails the test when the script fails."""
        done = subprocess.run(
            [str(STACK), command, self.component],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, (
            f"stack {command} {self.component} failed: {done.stdout}{done.stderr}"
        )

    def stop(self) -> None:
        self.run("stop")

    def start(self) -> None:
        self.run("start")


class Broker(Instance):
    """A single-node KRaft broker of our own."""

    def __init__(self, folder: Path) -> None:
        super().__init__(
            "kafka", folder, {"KAFKA_PORT": free_port(), "KAFKA_CONTROLLER_PORT": free_port()}
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports['KAFKA_PORT']}"


class Postgres(Instance):
    """A PostgreSQL cluster of our own."""

    def __init__(self, folder: Path) -> None:
        super().__init__("postgres", folder, {"PG_PORT": free_port()})

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://hearth:hearth@127.0.0.1:{self.ports['PG_PORT']}/hearth"


@contextmanager
def own_broker(folder: Path) -> Iterator[Broker]:
    """Start a throwaway broker, stop it at the end."""
    require_native_stack()
    broker = Broker(folder)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@contextmanager
def own_postgres() -> Iterator[Postgres]:
    """Start a throwaway PostgreSQL, stop and delete it at the end."""
    require_native_stack()
    # The server runs as the postgres user, which cannot enter pytest's private tmp dirs.
    folder = Path(tempfile.mkdtemp(prefix="hearth-pg-"))
    folder.chmod(0o755)
    postgres = Postgres(folder)
    try:
        postgres.start()
        yield postgres
    finally:
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)
