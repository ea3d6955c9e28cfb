"""Where the real servers come from: env vars first, then testcontainers, else skip.

`make test` starts Kafka and PostgreSQL natively (deploy/local) and exports
KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL. Under CI=true a missing server fails the
run instead of skipping, so integration tests can never silently not run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _missing(what: str) -> None:
    message = f"{what} is not available: run `make test` (starts it) or set the env var"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a real Apache Kafka broker."""
    if url := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield url
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    _missing("Kafka (KAFKA_BOOTSTRAP_SERVERS)")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a real PostgreSQL server."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15", driver="asyncpg") as container:
            yield container.get_connection_url()
        return
    _missing("PostgreSQL (DATABASE_URL)")


async def skip_kafka_history(host: Any) -> None:
    """Start a test host's new consumer groups at the end of the shared broker's topics.

    A new group starts at the earliest offset (as it must in production), so on the
    suite's shared broker a test's fresh group would first replay every event all earlier
    tests published, which grows with the suite. Committing the current end offsets for
    the groups before the host starts gives each test only its own traffic.
    """
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition

    from shared.bus.kafka import KafkaBus

    if not isinstance(host.bus, KafkaBus):
        return
    for hosted in host.services:
        topics = hosted.spec.topics
        if not topics:
            continue
        consumer = AIOKafkaConsumer(
            bootstrap_servers=host.bus.bootstrap_servers,
            group_id=f"{host.group_prefix}-{hosted.spec.name}",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            # consumer.topics() fetches every topic's metadata but does not keep it, so
            # consumer.partitions_for_topic() knew none of them and nothing was skipped.
            cluster = await consumer._client.fetch_all_metadata()
            partitions = [
                TopicPartition(topic, partition)
                for topic in topics
                for partition in cluster.partitions_for_topic(topic) or ()
            ]
            if partitions:
                consumer.assign(partitions)
                ends = await consumer.end_offsets(partitions)
                await consumer.commit(dict(ends))
        finally:
            await consumer.stop()
