"""`hearth dlq list` and `hearth dlq replay` on the embedded bus file and on real Kafka.

Dead letters are written as the consumer runtime writes them (original headers plus the
`hearth_*` error headers); the replayed events are then consumed by the real runtime with
its dedupe by event id, so "applied once" is checked in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence

import pytest
from typer.testing import CliRunner, Result

from services.cli import app
from shared.bus.port import Outgoing
from shared.bus.runtime import (
    DLQ_ATTEMPTS,
    DLQ_ERROR_MESSAGE,
    DLQ_ERROR_TYPE,
    DLQ_GROUP,
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_TOPIC,
    ConsumerRuntime,
)
from shared.events.envelope import Envelope, header_map
from tests.shared.bus.test_conformance import (
    assert_exactly_once_in_order,
    count,
    effects,
    make_event,
    metadata,
    processor,
    read_all,
    wait_for,
)
from tests.shared.conftest import Backend, create_all

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "kafka"], indirect=True)
runner = CliRunner()


def dead_letter(topic: str, group: str, envelope: Envelope, offset: int) -> Outgoing:
    """What the runtime parks after the last attempt failed."""
    key, value, headers = envelope.to_kafka()
    return Outgoing(
        f"{topic}.{group}.dlq",
        value,
        key,
        (
            *headers,
            (DLQ_ERROR_TYPE, b"ValueError"),
            (DLQ_ERROR_MESSAGE, b"cannot digest it"),
            (DLQ_ATTEMPTS, b"3"),
            (DLQ_TOPIC, topic.encode()),
            (DLQ_PARTITION, b"0"),
            (DLQ_OFFSET, str(offset).encode()),
            (DLQ_GROUP, group.encode()),
        ),
    )


async def hearth(backend: Backend, *args: str) -> Result:
    """Run `hearth <args>` against the backend's bus, as an operator would."""
    if backend.name == "kafka":
        where = ["--bootstrap-servers", backend.bus.bootstrap_servers]  # type: ignore[attr-defined]
    else:
        where = ["--data-dir", str(backend.bus.path.parent)]  # type: ignore[attr-defined]
    result = await asyncio.to_thread(runner.invoke, app, [*args, *where])
    assert result.exit_code == 0, result.output
    return result


async def listed(backend: Backend, group: str) -> list[dict]:
    result = await hearth(backend, "dlq", "list", "--group", group, "--json")
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


async def consume(backend: Backend, topic: str, group: str, expected: int) -> None:
    runtime = ConsumerRuntime(backend.bus, [topic], group, processor(backend, group))
    task = asyncio.create_task(runtime.run())
    try:
        await wait_for(lambda: _at_least(backend, expected))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _at_least(backend: Backend, expected: int) -> bool:
    return await count(backend, effects) >= expected


async def test_dead_letters_are_listed_and_replayed_once(backend: Backend) -> None:
    await create_all(backend.db, metadata)
    topic, group = backend.unique("orders"), backend.unique("group")
    events: Sequence[Envelope] = [make_event("k1", 1), make_event("k2", 2)]
    await backend.bus.ensure_topics([topic, f"{topic}.{group}.dlq"])
    await backend.bus.publish_many(
        [dead_letter(topic, group, event, n) for n, event in enumerate(events)]
    )

    parked = await listed(backend, group)
    assert {p["id"] for p in parked} == {e.id for e in events}
    assert all(p["error_type"] == "ValueError" for p in parked)
    assert all(p["error_message"] == "cannot digest it" for p in parked)
    assert all(p["original_topic"] == topic and p["attempts"] == 3 for p in parked)
    assert not any(p["replayed"] for p in parked)
    table = await hearth(backend, "dlq", "list", "--group", group)
    assert events[0].id in table.stdout and "ValueError" in table.stdout
    assert await listed(backend, group) == parked, "listing moved nothing"

    first = await hearth(backend, "dlq", "replay", "--group", group)
    assert "re-drove 2 dead letter(s)" in first.output
    again = await hearth(backend, "dlq", "replay", "--group", group)
    assert "re-drove 0 dead letter(s)" in again.output, "a second replay re-drives nothing"
    forced = await hearth(backend, "dlq", "replay", "--group", group, "--id", events[0].id)
    assert "re-drove 1 dead letter(s)" in forced.output

    redriven = await read_all(backend, topic, expected=3)
    assert sorted(r.value for r in redriven) == sorted(
        [events[0].to_kafka()[1], *(e.to_kafka()[1] for e in events)]
    )
    for record in redriven:
        assert not any(name.startswith("hearth_") for name, _ in record.headers)
        assert header_map(record.headers)["ce_id"] in {e.id for e in events}

    await consume(backend, topic, group, expected=2)
    await assert_exactly_once_in_order(backend, events)  # three deliveries, two effects
    assert all(p["replayed"] for p in await listed(backend, group))


async def test_replaying_an_unknown_id_changes_nothing(backend: Backend) -> None:
    topic, group = backend.unique("orders"), backend.unique("group")
    await backend.bus.ensure_topics([topic, f"{topic}.{group}.dlq"])
    await backend.bus.publish_many([dead_letter(topic, group, make_event("k", 1), 0)])
    if backend.name == "kafka":
        where = ["--bootstrap-servers", backend.bus.bootstrap_servers]  # type: ignore[attr-defined]
    else:
        where = ["--data-dir", str(backend.bus.path.parent)]  # type: ignore[attr-defined]
    result = await asyncio.to_thread(
        runner.invoke, app, ["dlq", "replay", "--group", group, "--id", "nope", *where]
    )
    assert result.exit_code == 1 and "nope" in result.output
    assert not any(p["replayed"] for p in await listed(backend, group))
