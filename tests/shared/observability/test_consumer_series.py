"""A consumer group's counters exist at zero from its start, so rates and alerts see them."""

from __future__ import annotations

from prometheus_client import REGISTRY

from shared.bus.memory import InMemoryBus
from shared.bus.runtime import ConsumerRuntime


async def _nothing(deliveries: object) -> None:
    return None


def test_a_new_consumer_group_reports_zero_dead_letters_and_retries_not_nothing() -> None:
    ConsumerRuntime(InMemoryBus(), ["community.events.v1"], "series-test", _nothing)

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"group": "series-test", **labels})

    topic = "community.events.v1"
    for outcome in ("handled", "duplicate", "retried", "dead_lettered", "invalid"):
        assert sample("hearth_consumer_messages_total", topic=topic, outcome=outcome) == 0
    for reason in ("infrastructure", "event"):
        assert sample("hearth_consumer_retries_total", reason=reason) == 0
    assert sample("hearth_consumer_waiting_for_dependency") == 0
