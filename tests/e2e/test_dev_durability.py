"""`hearth dev` keeps what it acknowledged: kill -9 right after a 2xx loses no event."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from shared.bus.sqlite import SqliteBus
from shared.events.envelope import header_map
from shared.events.topics import COMMUNITY_EVENTS
from tests.e2e.test_dev import free_port, start_dev, stop, wait_healthy


async def subscriber_sees(bus_file: Path, event_id: str, timeout: float = 30) -> bool:
    """Whether a new subscriber of community.events.v1 receives the event."""
    bus = SqliteBus(bus_file)
    await bus.start()
    consumer = bus.consumer([COMMUNITY_EVENTS.name], "test-subscriber")
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            records = await consumer.fetch(500, 1)
            if any(header_map(r.headers).get("ce_id") == event_id for r in records):
                return True
            if not records and sum(consumer.lag().values()) == 0:
                return False
        return False
    finally:
        await consumer.stop()
        await bus.stop()


@pytest.mark.e2e
def test_an_event_acknowledged_before_kill_9_is_delivered_after_the_restart(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    first = start_dev(data_dir, port)
    try:
        wait_healthy(base, first)
        auth = {"Authorization": f"Bearer {(data_dir / 'dev-api-key').read_text().strip()}"}
        community = httpx.post(
            f"{base}/v1/ingest/communities", json={"name": "Durable"}, headers=auth
        ).json()["id"]
        answer = httpx.post(
            f"{base}/v1/ingest/events",
            json={
                "type": "community.message.created",
                "community_id": community,
                "occurred_at": "2026-11-20T10:00:00Z",
                "source_event_id": "msg-1",
                "actor": {"platform_user_id": "user-1", "username": "ann"},
                "content": {"text": "hello"},
            },
            headers=auth,
        )
        first.kill()  # SIGKILL the moment the 2xx is in: no shutdown, no flush
        first.wait(timeout=20)
    finally:
        if first.poll() is None:
            first.kill()
    assert answer.status_code == 200, answer.text
    event_id = answer.json()["items"][0]["event_id"]

    port = free_port()
    again = start_dev(data_dir, port)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", again)
        listed = httpx.get(
            f"http://127.0.0.1:{port}/v1/ingest/events",
            params={"community_id": community},
            headers=auth,
        ).json()["items"]
        assert [e["event_id"] for e in listed] == [event_id]
        delivered = asyncio.run(subscriber_sees(data_dir / "bus.db", event_id))
    finally:
        stop(again)
    assert delivered, "the acknowledged event never reached a subscriber of community.events.v1"
