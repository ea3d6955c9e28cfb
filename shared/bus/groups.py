"""Consumer-group assignment for the buses that coordinate their groups in-process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from shared.bus.port import TopicPartition


class Member(Protocol):
    """A group member as assignment sees it: the topics it reads."""

    @property
    def topics(self) -> tuple[str, ...]: ...


M = TypeVar("M", bound=Member)


def assign_round_robin(
    members: Sequence[M], partitions_of: Callable[[str], int]
) -> list[tuple[M, list[TopicPartition]]]:
    """Deal every partition of the members' topics round-robin to the members reading it."""
    wanted = sorted(
        {
            (topic, partition)
            for member in members
            for topic in member.topics
            for partition in range(partitions_of(topic))
        }
    )
    assignments: dict[int, list[TopicPartition]] = {id(m): [] for m in members}
    for index, topic_partition in enumerate(wanted):
        candidates = [m for m in members if topic_partition[0] in m.topics]
        owner = candidates[index % len(candidates)]
        assignments[id(owner)].append(topic_partition)
    return [(member, assignments[id(member)]) for member in members]


class InProcessMember:
    """What the in-memory and SQLite consumers share: topics, group and positions."""

    def __init__(
        self,
        topics: tuple[str, ...],
        group: str,
        committed: Callable[[str, TopicPartition], int],
    ) -> None:
        self.topics = topics
        self.group = group
        self._committed_offset_of = committed
        self._positions: dict[TopicPartition, int] = {}
        self._started = False

    def _assign(self, partitions: list[TopicPartition]) -> None:
        # Like Kafka, a newly assigned partition resumes at the group's committed offset.
        kept = self._positions
        self._positions = {
            tp: kept[tp] if tp in kept else self._committed_offset_of(self.group, tp)
            for tp in partitions
        }
