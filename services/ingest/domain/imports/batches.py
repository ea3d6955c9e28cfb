"""Cutting an export's events into request bodies that are the same on every run."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from services.ingest.domain.incoming import EventIn

MAX_BATCH_BYTES = 6 * 1024 * 1024
"""A batch is cut earlier when its body would pass this: the endpoint takes at most 8 MiB."""
_FRAME = len(b'{"events":[]}')


def batches(
    events: Iterable[EventIn], size: int, *, max_bytes: int = MAX_BATCH_BYTES
) -> Iterator[list[EventIn]]:
    """Up to `size` events per batch, fewer when the body would pass `max_bytes`.

    The cuts depend only on the events, `size` and `max_bytes`, so the same export
    makes the same batches on every run: what resuming by batch number relies on.
    """
    batch: list[EventIn] = []
    weight = _FRAME
    for event in events:
        event_bytes = len(event_json(event)) + 1  # and its comma
        if batch and (len(batch) == size or weight + event_bytes > max_bytes):
            yield batch
            batch, weight = [], _FRAME
        batch.append(event)
        weight += event_bytes
    if batch:
        yield batch


def batch_body(batch: list[EventIn]) -> bytes:
    """`{"events": [...]}` with the same bytes for the same events, as an Idempotency-Key needs."""
    return b'{"events":[' + b",".join(event_json(e) for e in batch) + b"]}"


def event_json(event: EventIn) -> bytes:
    """One event as the API reads it; fields left at None are omitted."""
    return event.model_dump_json(exclude_none=True).encode()
