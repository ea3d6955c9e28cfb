"""Batches are cut the same way on every run and always fit the endpoint."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.ingest.domain.imports.batches import batch_body, batches
from services.ingest.schemas import ActorIn, BatchIn, EventIn
from shared.events.community import CommunityEventType, Content


def event(n: int, text: str = "hi") -> EventIn:
    return EventIn(
        type=CommunityEventType.MESSAGE_CREATED,
        community_id="c1",
        occurred_at=datetime(2024, 6, 1, tzinfo=UTC),
        dedup_key=f"import:test:{n}",
        actor=ActorIn(platform_user_id="u1"),
        content=Content(text=text),
        backfilled=True,
    )


def test_batches_hold_at_most_the_batch_size():
    sizes = [len(b) for b in batches((event(n) for n in range(7)), 3)]

    assert sizes == [3, 3, 1]


def test_a_batch_is_cut_early_rather_than_pass_the_byte_limit():
    long = [event(n, "x" * 1000) for n in range(5)]

    cut = list(batches(long, 500, max_bytes=2700))

    assert [len(b) for b in cut] == [2, 2, 1]
    assert all(len(batch_body(b)) <= 2700 for b in cut)


def test_the_body_is_a_valid_batch_and_the_same_bytes_every_time():
    batch = [event(1), event(2)]

    body = batch_body(batch)

    assert body == batch_body([event(1), event(2)])
    assert BatchIn.model_validate(json.loads(body)).events == batch
