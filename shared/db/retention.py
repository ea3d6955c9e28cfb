"""Retention: logs that grow with traffic are pruned in small batches by a background loop.

- `outbox`, published rows only: 1 day (`HEARTH_RETENTION_OUTBOX`, by `published_at`);
- `processed_events`, every service: 14 days (`HEARTH_RETENTION_PROCESSED_EVENTS`,
  by `processed_at`);
- `received_events`, ingest's payloads with member text: 30 days
  (`HEARTH_RETENTION_RECEIVED_EVENTS`, by `ingested_at`);
- `idempotency_keys`, ingest: 24 hours (`HEARTH_RETENTION_IDEMPOTENCY_KEYS`, by `created_at`).

Each batch is its own short transaction that deletes at most `batch_size` rows, so a
large backlog never holds a long lock or a long transaction; on PostgreSQL the batch
skips rows another replica's prune has locked, so replicas prune side by side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import Counter
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import ColumnElement, MetaData, Table, delete, select, tuple_
from sqlalchemy.exc import SQLAlchemyError

from shared.db.engine import Database
from shared.events.envelope import utcnow

log = logging.getLogger(__name__)

PRUNED_TOTAL = Counter(
    "hearth_retention_pruned_rows_total",
    "Rows deleted because they outlived their retention, by service and table.",
    ["service", "table"],
)


class RetentionSettings(BaseSettings):
    """How long logs are kept (env prefix HEARTH_RETENTION_; ISO 8601 durations: P14D, PT24H)."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_RETENTION_", extra="ignore")

    outbox: timedelta = Field(
        default=timedelta(days=1), description="published outbox rows (pending ones stay)"
    )
    processed_events: timedelta = Field(
        default=timedelta(days=14),
        description="event ids a consumer group handled; a redelivery older than this is "
        "handled again, so keep it longer than topic retention and any DLQ re-drive",
    )
    received_events: timedelta = Field(
        default=timedelta(days=30), description="ingest's received events (member text)"
    )
    idempotency_keys: timedelta = Field(
        default=timedelta(hours=24), description="stored answers to Idempotency-Key requests"
    )
    every: timedelta = Field(default=timedelta(hours=1), description="time between prunes")
    batch_size: int = Field(default=1000, ge=1, le=100_000, description="rows per transaction")


AGE_COLUMNS: Mapping[str, str] = {
    "outbox": "published_at",
    "processed_events": "processed_at",
    "received_events": "ingested_at",
    "idempotency_keys": "created_at",
}
"""Tables with a retention, by name, and the column that says how old a row is."""


@dataclass(frozen=True)
class Rule:
    """Rows of `table` whose `column` is older than `keep` go."""

    table: Table
    column: str
    keep: timedelta


def retention_rules(metadata: MetaData, settings: RetentionSettings) -> list[Rule]:
    """The rules for the tables of a service's metadata that have a retention."""
    return [
        Rule(metadata.tables[name], column, getattr(settings, name))
        for name, column in AGE_COLUMNS.items()
        if name in metadata.tables
    ]


async def prune(
    db: Database, table: Table, column: str, before: datetime, *, batch_size: int
) -> int:
    """Delete rows of `table` with `column` before `before`, a batch per transaction."""
    key = list(table.primary_key.columns)
    chosen = select(*key).where(table.c[column] < before).limit(batch_size)
    if db.is_postgres:
        chosen = chosen.with_for_update(skip_locked=True)
    matches: ColumnElement[bool] = key[0].in_(chosen) if len(key) == 1 else tuple_(*key).in_(chosen)
    total = 0
    while True:
        async with db.transaction() as session:
            result = await session.execute(delete(table).where(matches))
        deleted = int(result.rowcount or 0)  # type: ignore[attr-defined]
        total += deleted
        if deleted < batch_size:
            return total
        await asyncio.sleep(0)  # let requests and consumers in between batches


async def prune_once(
    db: Database,
    rules: Sequence[Rule],
    *,
    batch_size: int,
    service: str = "",
    now: datetime | None = None,
) -> dict[str, int]:
    """Apply every rule once; rows deleted per table."""
    moment = now or utcnow()
    deleted: dict[str, int] = {}
    for rule in rules:
        count = await prune(db, rule.table, rule.column, moment - rule.keep, batch_size=batch_size)
        deleted[rule.table.name] = count
        PRUNED_TOTAL.labels(service=service, table=rule.table.name).inc(count)
    return deleted


async def prune_forever(
    db: Database, rules: Sequence[Rule], settings: RetentionSettings, *, service: str
) -> None:
    """Prune now and every `settings.every`; a database outage only delays a round."""
    while True:
        try:
            deleted = await prune_once(db, rules, batch_size=settings.batch_size, service=service)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("retention of %s: prune failed (%s)", service, type(exc).__name__)
        else:
            if any(deleted.values()):
                log.info("retention of %s: pruned %s", service, deleted)
        await asyncio.sleep(settings.every.total_seconds())
