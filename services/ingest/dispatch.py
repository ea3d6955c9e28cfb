"""Carrying recorded actions to the platforms, outside any database transaction.

The consumer only records an action (handlers.py puts a row in action_attempts inside
its transaction). This loop, one of ingest's background loops, then works through the
due attempts:

1. claim: one committed transaction marks the attempt in_flight with a lease
   (claim_id, lease_until); on PostgreSQL with SKIP LOCKED, so replicas never share one;
2. call: the platform call, one call per claim, holding no database connection;
3. record: a new transaction settles the attempt: done or failed with its result row,
   the ingest.action_results.v1 event in the outbox and, if retries ran out, the dead
   letter; or back to pending at next_attempt_at (a transient failure's backoff, or
   exactly the wait a rate limit asked for).

A binding's attempts go out one at a time, oldest first; `dispatch_workers` bindings are
served at once, so a slow or rate-limited platform never holds up other communities. A
dispatcher that dies mid-call leaves its attempt in_flight until the lease expires, then
any dispatcher calls again (at least once for a call in flight); an attempt recorded done
is never called again, and recording an action twice is a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import event as orm_events
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import repository
from services.ingest.context import IngestContext
from services.ingest.metrics import ACTION_RESULTS_TOTAL, ACTION_RETRIES_TOTAL
from services.ingest.outbound.base import (
    ActionOutcome,
    PermanentPlatformError,
    PlatformClient,
    RoleGrant,
    TransientPlatformError,
    Unsupported,
)
from services.ingest.outbound.base import ActionResult as Result
from services.ingest.outbound.executor import (
    Retry,
    attempt_once,
    backoff,
    clients_for,
    load_client,
    log_retry,
)
from services.ingest.tables import metadata
from shared.bus.port import Outgoing, envelope_message
from shared.bus.runtime import DLQ_ATTEMPTS, DLQ_ERROR_MESSAGE, DLQ_ERROR_TYPE, DLQ_GROUP, DLQ_TOPIC
from shared.db.outbox import Outbox
from shared.db.tables import outbox_table
from shared.events.community import Platform
from shared.events.envelope import Envelope, new_event_id, utcnow
from shared.events.payloads import ActionResult, ActionResultEventType, ModerationAction
from shared.events.topics import ACTION_RESULTS, dlq_topic, topic_for_type

log = logging.getLogger(__name__)

NO_BINDING = "no_binding"
ROLE_ACTIONS = ("grant_role", "revoke_role")
_OUTBOX = outbox_table(metadata)

Step = Result | Retry


def dispatch_loops(context: object) -> list[Callable[[], Awaitable[None]]]:
    """The dispatcher loop, unless this process was told to leave dispatching to others."""
    if not isinstance(context, IngestContext):
        raise TypeError(f"expected the ingest context, got {type(context).__name__}")
    if context.settings.dispatch_workers == 0:
        return []
    return [Dispatcher(context).run]


class Dispatcher:
    """Claims due attempts and carries each out on its platform, until cancelled."""

    def __init__(self, ctx: IngestContext, *, workers: int | None = None) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.workers = ctx.settings.dispatch_workers if workers is None else workers
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Look for due attempts now instead of at the next interval."""
        self._wake.set()

    async def run(self) -> None:
        """Claim and carry out attempts; cancelling it abandons calls in flight to their lease."""
        try:
            while True:
                free = self.workers - len(self._running)
                for row in await self._claim(free) if free > 0 else ():
                    task = asyncio.create_task(self._carry_out(row), name=f"action-{row['id']}")
                    self._running.add(task)
                    task.add_done_callback(self._finished)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), timeout=self.settings.dispatch_interval_seconds
                    )
                self._wake.clear()
        finally:
            for task in self._running:
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self.wake()  # a slot is free, and the binding's next attempt may be due

    async def _claim(self, limit: int) -> list[RowMapping]:
        now = utcnow()
        lease_until = now + timedelta(seconds=self.settings.action_lease_seconds)
        try:
            async with self.ctx.db.transaction() as session:
                rows = await repository.claim_attempts(
                    session, now=now, lease_until=lease_until, claim_id=new_event_id(), limit=limit
                )
        except (SQLAlchemyError, OSError) as exc:
            log.warning("action dispatcher waiting for the database: %s", type(exc).__name__)
            return []
        return list(rows)

    async def _carry_out(self, row: RowMapping) -> None:
        try:
            step = await self._call(row)
            await self._settle(row, step)
        except (SQLAlchemyError, OSError) as exc:
            # The call was made but its outcome not recorded: the lease expires and the
            # attempt is made again (at least once).
            log.warning(
                "attempt %s of action %s not recorded: %s",
                row["attempts"],
                row["action_id"],
                type(exc).__name__,
            )

    async def _call(self, row: RowMapping) -> Step:
        settings = self.settings
        attempt = row["attempts"]
        if attempt > settings.action_attempts:  # the limit was lowered meanwhile
            detail = row["detail"] or "no attempts left"
            return Result(ActionOutcome.RETRIES_EXHAUSTED, detail, attempt - 1)
        async with self.ctx.db.transaction() as session:
            binding = await repository.get_binding(
                session, row["tenant_id"], row["community_id"], row["binding_id"]
            )
        if binding is None:
            return Result(ActionOutcome.PLATFORM_ERROR, NO_BINDING, attempt - 1)
        platform = Platform(binding["platform"])
        await load_client(platform)
        try:
            client = clients_for(
                platform, self.ctx.secrets.open(binding["secrets"]), self.ctx.platform_urls
            )
        except Unsupported as exc:
            return Result(ActionOutcome.UNSUPPORTED, exc.reason, 0)
        except PermanentPlatformError as exc:
            return Result(ActionOutcome.PLATFORM_ERROR, exc.detail, 0, exc.status)
        call = _platform_call(row, client, binding["external_id"])
        timeout = settings.action_call_timeout_seconds

        async def bounded() -> None:
            try:
                async with asyncio.timeout(timeout):
                    await call()
            except TimeoutError:
                raise TransientPlatformError(
                    f"{platform} call took longer than {timeout:g}s"
                ) from None

        try:
            return await attempt_once(
                bounded,
                attempt=attempt,
                attempts=settings.action_attempts,
                backoff_initial=settings.action_backoff_seconds,
                backoff_max=settings.action_backoff_max_seconds,
                max_retry_after=settings.action_max_retry_after,
            )
        except Exception as exc:  # a client bug: retried like a transient failure, then given up
            log.exception("attempt %d of action %s failed unexpectedly", attempt, row["action_id"])
            detail = f"internal error: {type(exc).__name__}"
            if attempt >= settings.action_attempts:
                return Result(ActionOutcome.RETRIES_EXHAUSTED, detail, attempt)
            delay = backoff(
                attempt,
                initial=settings.action_backoff_seconds,
                cap=settings.action_backoff_max_seconds,
            )
            return Retry(delay, detail)
        finally:
            await client.aclose()

    async def _settle(self, row: RowMapping, step: Step) -> None:
        async with self.ctx.db.transaction() as session:
            if isinstance(step, Retry):
                kept = await repository.reschedule_attempt(
                    session,
                    row["id"],
                    row["claim_id"],
                    at=utcnow() + timedelta(seconds=step.delay),
                    detail=step.detail,
                )
            else:
                outcome = NO_BINDING if step.detail == NO_BINDING else step.outcome.value
                kept = await repository.finish_attempt(
                    session,
                    row["id"],
                    row["claim_id"],
                    status="done" if step.outcome is ActionOutcome.DONE else "failed",
                    outcome=outcome,
                    detail=step.detail,
                )
                if kept:
                    await record_result(
                        session,
                        source=Envelope.model_validate(row["source"]),
                        group=row["consumer_group"],
                        action_id=row["action_id"],
                        tenant_id=row["tenant_id"],
                        community_id=row["community_id"],
                        platform=Platform(row["platform"]),
                        action=row["action"],
                        outcome=outcome,
                        result=step,
                    )
        if not kept:
            log.warning("attempt of action %s outlived its lease; not recorded", row["action_id"])
        elif isinstance(step, Retry):
            ACTION_RETRIES_TOTAL.labels(platform=row["platform"]).inc()
            log_retry(row["attempts"], step)
            asyncio.get_running_loop().call_later(step.delay, self.wake)


def _platform_call(
    row: RowMapping, client: PlatformClient, external_id: str
) -> Callable[[], Awaitable[None]]:
    request: dict[str, Any] = dict(row["request"])
    if row["action"] in ROLE_ACTIONS:
        grant = RoleGrant(
            platform=Platform(request["platform"]),
            workspace_id=request["workspace_id"],
            platform_user_id=request["platform_user_id"],
            role_id=request["role_id"],
            grant=request["grant"],
        )
        return lambda: client.grant_role(grant, external_id=external_id)
    action = ModerationAction.model_validate(request)
    return lambda: client.apply(action, external_id=external_id)


async def record_result(
    session: AsyncSession,
    *,
    source: Envelope,
    group: str,
    action_id: str,
    tenant_id: str,
    community_id: str,
    platform: Platform,
    action: str,
    outcome: str,
    result: Result,
) -> None:
    """Store an action's outcome and queue it on ingest.action_results.v1 (and the DLQ)."""
    counted = ACTION_RESULTS_TOTAL.labels(platform=platform.value, action=action, outcome=outcome)
    # Counted when the result is committed, not when a rolled-back attempt wrote it.
    orm_events.listen(
        session.sync_session, "after_commit", lambda _session: counted.inc(), once=True
    )
    await repository.insert_action_result(
        session,
        action_id=action_id,
        tenant_id=tenant_id,
        community_id=community_id,
        platform=platform.value,
        action=action,
        outcome=outcome,
        detail=result.detail[:1000],
        attempts=result.attempts,
    )
    event = ActionResult(
        type=ActionResultEventType.ACTION_COMPLETED
        if result.outcome is ActionOutcome.DONE
        else ActionResultEventType.ACTION_FAILED,
        tenant_id=tenant_id,
        action_id=action_id,
        community_id=community_id,
        platform=platform,
        action=action,
        outcome=outcome,
        detail=result.detail,
        attempts=result.attempts,
    )
    outbox = Outbox(session, _OUTBOX)
    await outbox.add(
        ACTION_RESULTS.name,
        event.to_envelope(source="/hearth/ingest"),
    )
    if result.outcome is ActionOutcome.RETRIES_EXHAUSTED:
        await _dead_letter(outbox, source, group, result)


async def _dead_letter(outbox: Outbox, source: Envelope, group: str, result: Result) -> None:
    topic = topic_for_type(source.type).name
    original = envelope_message(topic, source)
    headers: tuple[tuple[str, bytes], ...] = (
        *original.headers,
        (DLQ_ERROR_TYPE, b"RetriesExhausted"),
        (DLQ_ERROR_MESSAGE, result.detail[:1000].encode()),
        (DLQ_ATTEMPTS, str(result.attempts).encode()),
        (DLQ_TOPIC, topic.encode()),
        (DLQ_GROUP, group.encode()),
    )
    message = Outgoing(
        topic=dlq_topic(topic, group), value=original.value, key=original.key, headers=headers
    )
    await outbox.add_messages([message], [source.id])
