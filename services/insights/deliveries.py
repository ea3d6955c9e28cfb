"""Carrying routed insights to webhooks, outside any database transaction.

Routing only records a delivery (a row, in the transaction that routed the insight).
This loop then works through the due ones, as ingest's action dispatcher does:

1. claim: one committed transaction marks up to `delivery_workers` due deliveries
   in_flight with a lease (claim_id, lease_until); on PostgreSQL with SKIP LOCKED, so
   replicas never share one;
2. send: the signed POST, holding no database connection;
3. settle: a new transaction records delivered, failed, or back to pending after a
   backoff (the receiver's Retry-After when it asks for longer).

Every attempt carries the same X-Hearth-Delivery id, so a receiver that answered 2xx but
whose answer was lost (the loop died before settling; the lease expires and it is sent
again) can drop the repeat. A delivery recorded delivered is never sent again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import SQLAlchemyError

from services.insights.context import InsightsContext
from services.insights.domain.delivery import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    backoff,
    signature,
)
from services.insights.metrics import DELIVERIES_TOTAL
from services.insights.repository_routing import Routing
from services.insights.routing import send_digests
from shared.events.envelope import new_event_id, utcnow

log = logging.getLogger(__name__)

WORKERS = 8
RETRYABLE = frozenset({408, 425, 429})
MAX_RETRY_AFTER = 3_600.0


@dataclass(frozen=True)
class Sent:
    """How one attempt went: the receiver's status, or the error that stopped it."""

    status: int | None
    error: str | None
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        """The receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """A network error, a 5xx, 408, 425 or 429: worth another attempt."""
        return self.status is None or self.status >= 500 or self.status in RETRYABLE


class Deliverer:
    """Claims due deliveries and sends each, until cancelled."""

    def __init__(
        self, context: InsightsContext, *, client: httpx.AsyncClient | None = None
    ) -> None:
        self.context = context
        self.settings = context.settings
        self.client = client

    async def run(self) -> None:
        """Send due deliveries every `delivery_interval_seconds` (at once after a busy pass)."""
        owned = self.client is None
        client = self.client or httpx.AsyncClient(
            timeout=self.settings.delivery_timeout_seconds, follow_redirects=False
        )
        try:
            while True:
                busy = await self.pass_once(client)
                if not busy:
                    await asyncio.sleep(self.settings.delivery_interval_seconds)
        finally:
            if owned:
                await client.aclose()

    async def pass_once(self, client: httpx.AsyncClient) -> int:
        """Claim, send and settle one batch; returns how many were claimed."""
        rows = await self._claim()
        if rows:
            await asyncio.gather(*(self._carry_out(client, row) for row in rows))
        return len(rows)

    async def _claim(self) -> list[RowMapping]:
        now = utcnow()
        lease_until = now + timedelta(seconds=self.settings.delivery_lease_seconds)
        try:
            async with self.context.db.transaction() as session:
                return await Routing(session).claim_deliveries(
                    now=now, lease_until=lease_until, claim_id=new_event_id(), limit=WORKERS
                )
        except (SQLAlchemyError, OSError) as exc:
            log.warning("insights deliveries waiting for the database: %s", type(exc).__name__)
            return []

    async def _carry_out(self, client: httpx.AsyncClient, row: RowMapping) -> None:
        sent = await send(client, row, timeout=self.settings.delivery_timeout_seconds)
        try:
            await self._settle(row, sent)
        except (SQLAlchemyError, OSError) as exc:
            # Sent but not recorded: the lease expires and it is sent again, same id.
            log.warning("delivery %s not recorded: %s", row["id"], type(exc).__name__)

    async def _settle(self, row: RowMapping, sent: Sent) -> None:
        attempt = row["attempts"]
        values: dict[str, object] = {"last_status": sent.status, "last_error": sent.error}
        if sent.delivered:
            result, values = (
                "delivered",
                {**values, "status": "delivered", "delivered_at": utcnow()},
            )
        elif sent.retryable and attempt < self.settings.delivery_attempts:
            delay = backoff(
                attempt,
                initial=self.settings.delivery_backoff_seconds,
                cap=self.settings.delivery_backoff_max_seconds,
            )
            if sent.retry_after is not None:
                delay = max(delay, min(sent.retry_after, MAX_RETRY_AFTER))
            at = utcnow() + timedelta(seconds=delay)
            result, values = "retried", {**values, "status": "pending", "next_attempt_at": at}
        else:
            result, values = "failed", {**values, "status": "failed"}
        async with self.context.db.transaction() as session:
            kept = await Routing(session).settle_delivery(row["id"], row["claim_id"], **values)
        if kept:
            DELIVERIES_TOTAL.labels(result=result).inc()
            if result != "delivered":
                log.info(
                    "delivery %s attempt %d: %s (%s)",
                    row["id"],
                    attempt,
                    result,
                    sent.status if sent.status is not None else sent.error,
                )
        else:
            log.warning("delivery %s outlived its lease; not recorded", row["id"])


async def send(client: httpx.AsyncClient, row: RowMapping, *, timeout: float) -> Sent:
    """One signed POST of a delivery's body; never raises for the receiver's faults."""
    body: bytes = row["body"]
    stamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Hearth-Insights/1",
        DELIVERY_HEADER: row["id"],
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: signature(row["secret"], stamp, body),
    }
    try:
        answer = await client.post(row["url"], content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return Sent(status=None, error=type(exc).__name__)
    retry_after = None
    raw = answer.headers.get("Retry-After", "")
    if raw.isdigit():
        retry_after = float(raw)
    return Sent(status=answer.status_code, error=None, retry_after=retry_after)


def insights_loops(context: object) -> list[Callable[[], Awaitable[None]]]:
    """The delivery and digest loops (supervised by the host), none without a context."""
    if not isinstance(context, InsightsContext):
        return []

    async def digests() -> None:
        while True:
            await asyncio.sleep(context.settings.digest_interval_seconds)
            sent = await send_digests(context)
            if sent:
                log.info("insights sent %d digests", sent)

    return [Deliverer(context).run, digests]
