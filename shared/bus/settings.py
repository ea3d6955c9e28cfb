"""Settings for the bus, composed into every service's Settings."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """Which bus to use and how to reach Kafka (env prefix HEARTH_KAFKA_)."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_KAFKA_", extra="ignore")

    bootstrap_servers: str = Field(
        default="127.0.0.1:19092",
        validation_alias=AliasChoices("HEARTH_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
    )
    client_id: str = "hearth"
    partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    linger_ms: int = Field(default=5, ge=0)
    delivery_timeout_ms: int = Field(
        default=2_500,
        ge=100,
        description="longest a publish waits for Kafka's acknowledgement before it fails "
        "(a webhook then answers 503); fits Slack's 3 s webhook timeout",
    )


class BusSettings(BaseSettings):
    """The bus adapter: `kafka` when distributed, `memory` when embedded."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_BUS_", extra="ignore")

    kind: Literal["kafka", "memory"] = "kafka"
