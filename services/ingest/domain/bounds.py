"""The bounds a canonical event must keep before anything of it is published. Pure.

Everything ingest publishes is recorded too (received_events, identities); a value the
record cannot hold would otherwise fail after the publish. So an event is checked here
first, and one that does not fit is refused, never half-applied. Problems name fields
and limits, never values (a value may be member text).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events.community import Actor, CommunityEvent

MAX_DEDUP_KEY = 600
"""received_events.dedup_key's width."""
MAX_ID = 512
"""A platform id (workspace, channel, thread, parent, source event)."""
MAX_USER_ID = 256
"""identities.platform_user_id's width."""
MAX_ATTRIBUTES_BYTES = 16_384
"""attributes as compact JSON."""
MAX_DEPTH = 32
"""How deeply a JSON body, attributes or options may nest."""
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""No event happened before the unix epoch (event ids carry the time from there)."""
MAX_AHEAD = timedelta(days=1)
"""How far ahead of Hearth's clock an event time may be (clock skew, time zones mixed up)."""

MAX_BODY_DEPTH = 64
"""How deeply a request body may nest (platform payloads nest about 10 levels)."""

Problem = dict[str, str]


class TooDeep(ValueError):
    """A JSON body nests deeper than MAX_BODY_DEPTH."""


def loads(body: bytes | str) -> Any:
    """A JSON body, refused with TooDeep when it nests deeper than MAX_BODY_DEPTH (deep
    nesting makes parsers and serializers recurse until they fail); JSONDecodeError and
    UnicodeDecodeError as json.loads raises them."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise TooDeep(f"nests deeper than {MAX_BODY_DEPTH} levels") from None
    if depth(value, MAX_BODY_DEPTH) > MAX_BODY_DEPTH:
        raise TooDeep(f"nests deeper than {MAX_BODY_DEPTH} levels")
    return value


def problem(loc: str, msg: str, kind: str = "value_error") -> Problem:
    """One problem, shaped like a field error of problem+json."""
    return {"loc": loc, "msg": msg, "type": kind}


def time_problems(at: datetime, *, now: datetime, loc: str = "occurred_at") -> list[Problem]:
    """An event time must carry its offset and lie between 1970 and a day from now."""
    if at.tzinfo is None or at.utcoffset() is None:
        return [problem(loc, "a timestamp needs a UTC offset (e.g. Z or +02:00)")]
    if at < EARLIEST:
        return [problem(loc, "before 1970-01-01T00:00:00Z")]
    if at > now + MAX_AHEAD:
        return [problem(loc, "more than a day in the future")]
    return []


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply lists and objects nest in a JSON value, counted up to limit + 1 only."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        stack.extend((child, level) for child in children)
    return deepest


def json_problems(value: Any, loc: str, *, max_bytes: int) -> list[Problem]:
    """A JSON value kept within a depth and a size."""
    if depth(value) > MAX_DEPTH:
        return [problem(loc, f"nests deeper than {MAX_DEPTH} levels")]
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > max_bytes:
        return [problem(loc, f"is {size} bytes as JSON; at most {max_bytes}")]
    return []


def event_problems(event: CommunityEvent, *, now: datetime) -> list[Problem]:
    """Why the event cannot be recorded and published as it is; empty when it can."""
    found: list[Problem] = []
    if len(event.dedup_key) > MAX_DEDUP_KEY:
        found.append(problem("dedup_key", f"longer than {MAX_DEDUP_KEY} characters"))
    for name in ("workspace_id", "channel_id", "thread_id", "parent_id", "source_event_id"):
        value = getattr(event, name)
        if value is not None and len(value) > MAX_ID:
            found.append(problem(name, f"longer than {MAX_ID} characters"))
    for name, actor in (("actor", event.actor), ("object_actor", event.object_actor)):
        found.extend(_actor_problems(actor, name))
    found.extend(time_problems(event.occurred_at, now=now))
    found.extend(json_problems(event.attributes, "attributes", max_bytes=MAX_ATTRIBUTES_BYTES))
    if not found:
        found.extend(_nul_problems(event.model_dump(mode="json")))
    return found


def _actor_problems(actor: Actor | None, loc: str) -> list[Problem]:
    if actor is None or len(actor.platform_user_id) <= MAX_USER_ID:
        return []
    return [problem(f"{loc}.platform_user_id", f"longer than {MAX_USER_ID} characters")]


def _nul_problems(payload: Mapping[str, Any]) -> list[Problem]:
    """PostgreSQL text cannot hold U+0000, and no platform sends it in what members see.

    The problem names the top-level field only: a nested key may be member text."""
    for field, top in payload.items():
        stack: list[Any] = [top]
        while stack:
            value = stack.pop()
            if isinstance(value, str):
                if "\x00" in value:
                    return [problem(field, "contains a NUL character (U+0000)")]
            elif isinstance(value, Mapping):
                if any("\x00" in str(key) for key in value):
                    return [problem(field, "contains a NUL character (U+0000)")]
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
    return []
