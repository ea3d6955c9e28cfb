"""What moderation routes and handlers share: settings and the compiled rulesets."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from services.moderation.domain.engine import Engine
from services.moderation.domain.rules import DEFAULT_RULES, parse_rules
from services.moderation.domain.sanctions import as_utc
from services.moderation.metrics import QUEUE_DEPTH, QUEUE_OLDEST_AGE
from services.moderation.repository import ReviewQueue, StoredRuleset
from services.moderation.settings import Settings
from shared.bus.port import Bus
from shared.db.engine import Database
from shared.events.envelope import utcnow


@dataclass
class Engines:
    """Compiled rulesets by (tenant, community, version), least recently used dropped first.

    A version never changes once stored, so a cached engine is never stale; a new
    upload is a new version and a new key."""

    regex_timeout: float
    size: int = 1024
    _cache: OrderedDict[tuple[str, str, int], Engine] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self.default = Engine(DEFAULT_RULES, version=0, regex_timeout=self.regex_timeout)

    def of(self, tenant_id: str, stored: StoredRuleset | None) -> Engine:
        """The engine of a stored ruleset, or the default one when there is none."""
        if stored is None:
            return self.default
        key = (tenant_id, stored.community_id, stored.version)
        engine = self._cache.get(key)
        if engine is None:
            rules = parse_rules(stored.source)
            engine = Engine(rules, version=stored.version, regex_timeout=self.regex_timeout)
            self._cache[key] = engine
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return engine


@dataclass
class ModerationContext:
    """The moderation service's dependencies, built once per process."""

    settings: Settings
    engines: Engines
    db: Database | None = None


def setup(settings: Settings | None, db: Database, bus: Bus) -> ModerationContext:
    """Build the context from what the composition root passes."""
    settings = settings or Settings()
    return ModerationContext(
        settings=settings,
        engines=Engines(settings.regex_timeout_ms / 1000, settings.compiled_rulesets),
        db=db,
    )


async def refresh_queue_gauges(db: Database) -> None:
    """Set the queue depth and oldest-item age gauges from one aggregate query."""
    async with db.sessions() as session:
        depth, oldest = await ReviewQueue(session).depth()
    QUEUE_DEPTH.set(depth)
    age = 0.0 if oldest is None else (utcnow() - as_utc(oldest)).total_seconds()
    QUEUE_OLDEST_AGE.set(max(age, 0.0))


def background(context: object) -> Sequence[Callable[[], Awaitable[None]]]:
    """The queue gauges' refresher: one cheap query every `queue_gauge_seconds`."""
    if not isinstance(context, ModerationContext) or context.db is None:
        return ()
    db, every = context.db, context.settings.queue_gauge_seconds

    async def gauges() -> None:
        while True:
            await refresh_queue_gauges(db)
            await asyncio.sleep(every)

    return (gauges,)


def context_of(value: object) -> ModerationContext:
    """The context a handler or route was given (a default one when run without setup)."""
    if isinstance(value, ModerationContext):
        return value
    return _fallback()


_FALLBACK: list[ModerationContext] = []


def _fallback() -> ModerationContext:
    if not _FALLBACK:
        settings = Settings()
        _FALLBACK.append(ModerationContext(settings, Engines(settings.regex_timeout_ms / 1000)))
    return _FALLBACK[0]
