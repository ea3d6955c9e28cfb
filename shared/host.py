"""Runs one or several services in a process: the HTTP app, consumers and outbox relays.

`hearth serve <service>` hosts one service on Kafka and PostgreSQL; `hearth dev` hosts
all four on the durable SQLite bus and SQLite files. Same code path, different adapters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

from fastapi import FastAPI
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from shared.api.health import health_router
from shared.api.limits import install_api_limits
from shared.api.problems import install_problem_handlers
from shared.bus.port import Bus, BusUnavailable
from shared.bus.runtime import ConsumerRuntime, RetryPolicy
from shared.db.consuming import idempotent_processor
from shared.db.engine import Database
from shared.db.errors import classify_database_error
from shared.db.migrations import upgrade
from shared.db.outbox import OutboxRelay
from shared.db.retention import RetentionSettings, prune_forever, retention_rules
from shared.db.tables import outbox_table, processed_table
from shared.events.topics import TOPICS, dlq_topic
from shared.observability.metrics import PrometheusMiddleware, metrics_router
from shared.observability.tracing import TraceContextMiddleware
from shared.service import ServiceSpec
from shared.tenancy.api import admin_router
from shared.tenancy.repository import SqlApiKeyStore, migrate_tenancy

log = logging.getLogger(__name__)

# Bounds of Host.stop, so SIGTERM ends a service within a 15 s grace period even when a
# dependency just went away: background tasks get this long to end once cancelled...
STOP_TASKS_SECONDS = 5.0
# ...then the bus and the databases get this long to close, all at once.
CLOSE_SECONDS = 5.0


@dataclass
class HostedService:
    """A service spec with the database it runs on."""

    spec: ServiceSpec
    db: Database
    relay: OutboxRelay | None = None
    consumers: list[ConsumerRuntime] = field(default_factory=list)
    context: object = None


class Host:
    """Owns the bus, the databases and the background tasks of the hosted services."""

    def __init__(
        self,
        services: Sequence[tuple[ServiceSpec, Database]],
        *,
        bus: Bus,
        tenancy_db: Database,
        title: str = "Hearth",
        version: str = "0.1.0",
        retry: RetryPolicy | None = None,
        bus_connect_timeout: float = 60,
        on_started: Callable[[Host], object] | None = None,
        group_prefix: str = "hearth",
        settings: Mapping[str, object] | None = None,
        retention: RetentionSettings | None = None,
    ) -> None:
        self.services = [HostedService(spec, db) for spec, db in services]
        self.bus = bus
        self.tenancy_db = tenancy_db
        self.title = title
        self.version = version
        self.retry = retry or RetryPolicy()
        self.bus_connect_timeout = bus_connect_timeout
        self.on_started = on_started
        self.group_prefix = group_prefix
        self.settings = dict(settings or {})
        """Per service name, settings passed in instead of read from the environment."""
        self.retention = retention or RetentionSettings()
        self._tasks: list[asyncio.Task[None]] = []

    def create_app(self) -> FastAPI:
        """The FastAPI app: every hosted service's routes, health, metrics; lifespan runs it."""
        app = FastAPI(
            title=self.title,
            version=self.version,
            lifespan=self._lifespan,
            description="Hearth: moderation, gamification and insights for online communities.",
        )
        install_problem_handlers(app)
        install_api_limits(app)  # body caps and rate limits: shared/api/limits.py
        app.add_middleware(PrometheusMiddleware)
        app.add_middleware(TraceContextMiddleware)
        app.include_router(metrics_router())
        app.include_router(admin_router())
        for hosted in self.services:
            if hosted.spec.setup is not None:
                hosted.context = hosted.spec.setup(self._settings_of(hosted), hosted.db, self.bus)
                setattr(app.state, hosted.spec.name, hosted.context)
            app.include_router(health_router(hosted.spec.name, self._checks(hosted)))
            for router in hosted.spec.routers:
                app.include_router(router)
        app.state.host = self
        app.state.bus = self.bus
        app.state.api_keys = SqlApiKeyStore(self.tenancy_db)
        app.state.databases = {hosted.spec.name: hosted.db for hosted in self.services}
        return app

    def _settings_of(self, hosted: HostedService) -> object:
        if hosted.spec.name in self.settings:
            return self.settings[hosted.spec.name]
        return hosted.spec.settings() if hosted.spec.settings is not None else None

    def hosted(self, name: str) -> HostedService:
        """The hosted service called `name`; KeyError when this host does not run it."""
        for hosted in self.services:
            if hosted.spec.name == name:
                return hosted
        raise KeyError(f"service {name!r} is not hosted here")

    async def start(self) -> None:
        """Connect, migrate, then start relays and consumers."""
        await self._connect_bus()
        await self.bus.ensure_topics(sorted(TOPICS) + self._dead_letter_topics())
        await migrate_tenancy(self.tenancy_db)
        for hosted in self.services:
            await upgrade(hosted.db, hosted.spec.migrations)
            self._start_service(hosted)
            self._start_retention(hosted)
        for hosted in self.services:
            for runtime in hosted.consumers:
                await asyncio.wait_for(runtime.started.wait(), timeout=60)
        if self.on_started is not None:
            self.on_started(self)

    async def stop(self) -> None:
        """Cancel the background tasks, then close the bus and the databases, all in bounded
        time (STOP_TASKS_SECONDS, then CLOSE_SECONDS), logging whatever had to be cut."""
        tasks, self._tasks = self._tasks, []
        await _cancel_all(tasks, STOP_TASKS_SECONDS)
        closing = {"bus": self.bus.stop()}
        for hosted in self.services:
            closing[f"database of {hosted.spec.name}"] = hosted.db.dispose()
        closing["tenancy database"] = self.tenancy_db.dispose()
        await asyncio.gather(
            *(_bounded(what, step, CLOSE_SECONDS) for what, step in closing.items())
        )

    @asynccontextmanager
    async def _lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def _connect_bus(self) -> None:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(BusUnavailable),
            stop=stop_after_delay(self.bus_connect_timeout),
            wait=wait_exponential(multiplier=0.5, max=5),
            reraise=True,
        ):
            with attempt:
                await self.bus.start()

    def _start_service(self, hosted: HostedService) -> None:
        spec, db = hosted.spec, hosted.db
        relay = OutboxRelay(db, self.bus, outbox_table(spec.metadata), service=spec.name)
        hosted.relay = relay
        self._spawn(relay.run, f"{spec.name}-outbox-relay")
        if spec.topics:
            group = f"{self.group_prefix}-{spec.name}"
            process = idempotent_processor(
                db,
                group=group,
                handlers=spec.handlers,
                processed=processed_table(spec.metadata),
                outbox=outbox_table(spec.metadata),
                on_commit=relay.wake,
                context=hosted.context,
                unit_of_work=spec.unit_of_work,
            )
            runtime = ConsumerRuntime(
                self.bus,
                spec.topics,
                group,
                process,
                retry=self.retry,
                classifiers=(classify_database_error,),
                health_checks=(db.ping, self.bus.ping),
            )
            hosted.consumers.append(runtime)
            self._spawn(runtime.run, f"{spec.name}-consumer")
        if spec.background is not None:
            for index, loop in enumerate(spec.background(hosted.context)):
                self._spawn(loop, f"{spec.name}-background-{index}")

    def _start_retention(self, hosted: HostedService) -> None:
        """Prune the service's old outbox, processed and received rows (shared/db/retention.py)."""
        rules = retention_rules(hosted.spec.metadata, self.retention)
        if rules:
            prune = partial(
                prune_forever, hosted.db, rules, self.retention, service=hosted.spec.name
            )
            self._spawn(prune, f"{hosted.spec.name}-retention")

    def _spawn(self, run: Callable[[], Awaitable[None]], name: str) -> None:
        self._tasks.append(asyncio.create_task(_supervise(run, name), name=name))

    def _checks(self, hosted: HostedService) -> dict[str, Callable[[], Awaitable[None]]]:
        checks: dict[str, Callable[[], Awaitable[None]]] = {
            "bus": self.bus.ping,
            "database": hosted.db.ping,
        }
        # The consumers exist once the host starts; look them up when the probe runs.
        checks["consumer"] = lambda: _consumers_ready(hosted)
        checks["outbox"] = lambda: _relay_ready(hosted)
        return checks

    def _dead_letter_topics(self) -> list[str]:
        """Every `<topic>.<group>.dlq` the hosted consumers may write, created up front."""
        return sorted(
            dlq_topic(topic, f"{self.group_prefix}-{hosted.spec.name}")
            for hosted in self.services
            for topic in hosted.spec.topics
        )


async def _relay_ready(hosted: HostedService) -> None:
    if hosted.relay is not None:
        await hosted.relay.check()


async def _consumers_ready(hosted: HostedService) -> None:
    for runtime in hosted.consumers:
        await runtime.check()


async def _cancel_all(tasks: list[asyncio.Task[None]], seconds: float) -> None:
    """Cancel the tasks and wait up to `seconds` for them; log those left running or failing.

    A task is cancelled again every half second: a loop whose driver turned the first
    cancellation into an error it retries (asyncpg mid-query) ends on the next one.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    pending = set(tasks)
    while pending and (left := deadline - loop.time()) > 0:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(0.5, left))
    done = [task for task in tasks if task.done()]
    if pending:
        log.error(
            "stopping: %s still running %gs after cancel; left behind",
            ", ".join(sorted(task.get_name() for task in pending)),
            seconds,
        )
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "stopping: %s ended with an error",
                task.get_name(),
                exc_info=task.exception(),
            )


async def _bounded(what: str, step: Awaitable[None], seconds: float) -> None:
    """Await one closing step for at most `seconds`; log it when it fails or is cut."""
    try:
        await asyncio.wait_for(step, seconds)
    except TimeoutError:
        log.error("stopping: closing the %s took over %gs; cut", what, seconds)
    except Exception:
        log.exception("stopping: closing the %s failed", what)


async def _supervise(run: Callable[[], Awaitable[None]], name: str) -> None:
    """Restart a background loop that crashed (database or broker outage) with backoff."""
    delay = 0.5
    while True:
        try:
            await run()
            return
        except Exception as exc:  # keep the service alive; the log says what broke
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # Cancelled in the middle of a driver call, which reported the cancellation
                # as its own error (asyncpg: "connection was closed in the middle of
                # operation"): the host is stopping, so this is no crash to restart.
                log.info("%s stopped (%s while cancelling)", name, type(exc).__name__)
                raise asyncio.CancelledError from exc
            log.exception("%s crashed; restarting in %.1fs", name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30)
