"""A broker outage never loses a webhook: 503 while Kafka is down, one event once it is back.

Runs its own single-node Kafka (deploy/local/stack in a temporary folder, other ports)
so stopping it does not disturb the rest of the suite.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ulid import ULID

from services.ingest.secrets import SecretBox
from shared.bus.kafka import KafkaBus
from shared.db.engine import Database
from tests.conftest import IN_CI
from tests.ingest.conftest import fixture, slack_headers, start_ingest
from tests.shared.conftest import drop_schema

STACK = Path(__file__).resolve().parents[2] / "deploy" / "local" / "stack"
SECRET = "outage-signing-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """A throwaway broker controlled through deploy/local/stack."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "HEARTH_STACK_DIR": str(folder),
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(free_port()),
        }

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def run(self, command: str) -> None:
        done = subprocess.run(
            [str(STACK), command, "kafka"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"stack {command} kafka failed: {done.stdout}{done.stderr}"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and not IN_CI:
        pytest.skip("needs the native stack (make test)")
    own = Broker(tmp_path / "stack")
    own.run("start")
    try:
        yield own
    finally:
        own.run("stop")


@pytest.mark.integration
async def test_webhook_gets_503_while_kafka_is_down_and_is_published_once_after(
    broker: Broker, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEARTH_INGEST_SECRETS_KEY", SecretBox.new_key())
    suffix = str(ULID()).lower()
    db = Database(postgres_url, schema=f"ingest_{suffix}", pool_size=3)
    tenancy = Database(postgres_url, schema=f"hearth_{suffix}", pool_size=2)
    bus = KafkaBus(broker.bootstrap, client_id="outage-test", request_timeout_ms=3000)
    ingest = await start_ingest("kafka", bus, db, tenancy)
    try:
        community = await ingest.community()
        binding = await ingest.bind(community, "slack", "T111", {"signing_secret": SECRET})
        body = fixture("slack/message.json")

        broker.run("stop")
        down = await ingest.client.post(
            binding["webhook_path"], content=body, headers=slack_headers(SECRET, body)
        )
        assert down.status_code == 503
        assert int(down.headers["retry-after"]) > 0
        assert down.headers["content-type"].startswith("application/problem+json")
        listed = await ingest.client.get(
            "/v1/ingest/events", params={"community_id": community}, headers=ingest.auth()
        )
        assert listed.json()["items"] == [], "nothing is recorded as received"

        broker.run("start")
        redelivered = await ingest.client.post(
            binding["webhook_path"], content=body, headers=slack_headers(SECRET, body)
        )
        assert redelivered.status_code == 200, redelivered.text
        assert redelivered.json()["accepted"] == 1
        again = await ingest.client.post(
            binding["webhook_path"], content=body, headers=slack_headers(SECRET, body)
        )
        assert again.json()["duplicates"] == 1
        found = await ingest.published(
            "community.events.v1", match=lambda e: e.data.get("community_id") == community
        )
        assert len(found) == 1
    finally:
        await ingest.client.aclose()
        await ingest.host.stop()
        await drop_schema(db)
        await drop_schema(tenancy)
