"""`hearth import` against the real ingest service: each event published once, backfilled."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
from rich.console import Console

from services.ingest.importer import ImportReport, run_import
from tests.ingest.conftest import Ingest
from tests.ingest.imports.conftest import SAMPLES
from tests.ingest.imports.test_slack_export import build as slack_export

EVENTS = "community.events.v1"


class _Bridge(httpx.BaseTransport):
    """The importer's sync requests, answered by the service's async client on its own loop."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def forward() -> httpx.Response:
            headers = {
                name: value
                for name, value in request.headers.items()
                if name.lower() in ("authorization", "idempotency-key", "content-type")
            }
            answer = await self._client.request(
                request.method, request.url.path, headers=headers, content=request.read()
            )
            content_type = answer.headers.get("content-type", "application/json")
            return httpx.Response(
                answer.status_code, headers={"Content-Type": content_type}, content=answer.content
            )

        return asyncio.run_coroutine_threadsafe(forward(), self._loop).result(timeout=60)


async def run(ingest: Ingest, path: Path, community: str, key: str, state: Path) -> ImportReport:
    bridge = _Bridge(ingest.client, asyncio.get_running_loop())
    return await asyncio.to_thread(
        run_import,
        path,
        community_id=community,
        api_url="http://ingest.test",
        api_key=key,
        batch_size=2,
        state_dir=state,
        console=Console(file=io.StringIO()),
        transport=bridge,
    )


async def test_an_export_is_published_once_even_when_imported_again(
    ingest: Ingest, tmp_path: Path
) -> None:
    community = await ingest.community()
    key = await ingest.key("events:write", "events:platform")  # platform history, its keys
    export = SAMPLES / "telegram_result.json"

    first = await run(ingest, export, community, key, tmp_path / "state")
    # a machine that lost its checkpoint sends every batch again under the same keys
    again = await run(ingest, export, community, key, tmp_path / "other-state")

    assert (first.accepted, first.rejected, first.batches) == (5, 0, 3)
    assert (again.accepted, again.duplicates, again.rejected) == (5, 0, 0)  # replayed answers
    found = await ingest.published(
        EVENTS, match=lambda e: e.data.get("community_id") == community, expected=5
    )
    assert len(found) == 5
    assert all(e.data["backfilled"] is True for e in found)
    assert sorted(e.data["dedup_key"] for e in found) == sorted(
        f"{kind}:-1001571234567:{n}"
        for kind, n in [
            ("import:telegram", 101),  # a join
            ("telegram:message", 102),
            ("telegram:message", 103),
            ("telegram:message", 105),
            ("import:telegram", 107),  # a leave
        ]
    )


async def test_every_format_is_accepted_by_the_ingest_api(ingest: Ingest, tmp_path: Path) -> None:
    community = await ingest.community()
    key = await ingest.key("events:write")

    reports = [
        await run(ingest, path, community, key, tmp_path / "state")
        for path in (
            SAMPLES / "telegram_result.json",
            SAMPLES / "discord_channel.json",
            slack_export(tmp_path),
        )
    ]

    assert [(r.format, r.accepted, r.rejected) for r in reports] == [
        ("telegram", 5, 0),
        ("discord", 5, 0),
        ("slack", 5, 0),
    ]
