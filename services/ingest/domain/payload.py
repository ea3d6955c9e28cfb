"""What the webhook normalizers share: field readers, text limits and the event they build. Pure.

A reader takes the parent object, the key and that key's path in the payload
(`event.message`, `d.author`) and raises MalformedPayload("{path}: expected …") when the
value is not what the platform documents. Messages name fields, never their values: a
value may be member text, and messages end up in logs and problem+json bodies.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict, TypeGuard, TypeVar, Unpack

from pydantic import ValidationError

from services.ingest.domain.model import BindingContext, MalformedPayload, Normalized
from shared.events.community import Actor, CommunityEvent, CommunityEventType, Content, Platform

MAX_TEXT = 100_000
"""Content.text's limit: longer text is cut there and the event says `text_truncated`."""
MAX_TITLE = 1_000
"""Content.title's limit."""

Fields = dict[str, Any]
"""The fields of one CommunityEvent that depend on the payload's content."""

S = TypeVar("S")

_LINK = re.compile(r"https?://[^\s<>()\[\]\"'`]+")


class EventFields(TypedDict, total=False):
    """What one event says beyond the delivery and the channel it came from."""

    thread_id: str | None
    parent_id: str | None
    object_actor: Actor | None
    content: Content | None
    attributes: Mapping[str, Any] | None


def one_event(
    ctx: BindingContext,
    platform: Platform,
    type_: CommunityEventType,
    *,
    received_at: datetime,
    occurred_at: datetime | None,
    workspace_id: str,
    channel_id: str | None,
    source_event_id: str | None,
    dedup_key: str,
    actor: Actor,
    **fields: Unpack[EventFields],
) -> Normalized:
    """One event of the binding's community, at received_at if undated, minus None attributes."""
    attributes = fields.get("attributes") or {}
    event = CommunityEvent(
        type=type_,
        occurred_at=occurred_at or received_at,
        ingested_at=received_at,
        tenant_id=ctx.tenant_id,
        community_id=ctx.community_id,
        platform=platform,
        workspace_id=workspace_id,
        channel_id=channel_id,
        thread_id=fields.get("thread_id"),
        parent_id=fields.get("parent_id"),
        source_event_id=source_event_id,
        dedup_key=dedup_key,
        actor=actor,
        object_actor=fields.get("object_actor"),
        content=fields.get("content"),
        attributes={k: v for k, v in attributes.items() if v is not None},
    )
    return Normalized(events=(event,))


def handled(handler: Callable[[S], Normalized], source: S, *, what: str) -> Normalized:
    """handler(source), with a ValidationError raised as MalformedPayload("{what} does not fit")."""
    try:
        return handler(source)
    except ValidationError as error:
        raise MalformedPayload(f"{what} does not fit: {problems(error)}") from None


def drafted_events(
    ctx: BindingContext,
    platform: Platform,
    drafts: Iterable[Fields],
    *,
    received_at: datetime,
    what: str,
) -> Normalized:
    """Events of the binding's community from drafted fields; a misfit is MalformedPayload(what)."""
    try:
        events = tuple(
            CommunityEvent(
                tenant_id=ctx.tenant_id,
                community_id=ctx.community_id,
                platform=platform,
                ingested_at=received_at,
                **fields,
            )
            for fields in drafts
        )
    except ValidationError as error:
        raise MalformedPayload(f"{what}: {problems(error)}") from None
    return Normalized(events=events)


def problems(error: ValidationError) -> str:
    """Where validation failed and why, without the offending values (they may be member text)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
        for problem in error.errors(include_url=False, include_input=False)
    )


def is_int(value: object) -> TypeGuard[int]:
    """An integer that is not a bool (JSON true is not 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def str_or_none(value: object) -> str | None:
    """The value if it is a non-empty string, else None (never an error)."""
    return value if isinstance(value, str) and value else None


def required_str(parent: Mapping[str, Any], key: str, path: str) -> str:
    """A non-empty string."""
    value = parent.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"{path}: expected a string")
    return value


def required_int(parent: Mapping[str, Any], key: str, path: str) -> int:
    """An integer (not a bool)."""
    value = parent.get(key)
    if not is_int(value):
        raise MalformedPayload(f"{path}: expected an integer")
    return value


def native_id(parent: Mapping[str, Any], key: str, path: str) -> int | str:
    """An id as the platform sends it: an integer or a non-empty string."""
    value = parent.get(key)
    if not is_int(value) and not (isinstance(value, str) and value):
        raise MalformedPayload(f"{path}: expected an id")
    return value


def string_id(parent: Mapping[str, Any], key: str, path: str) -> str:
    """An id (integer or non-empty string) as a string."""
    return str(native_id(parent, key, path))


def mapping(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """A JSON object."""
    value = parent.get(key)
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"{path}: expected an object")
    return value


def optional_mapping(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
    """A JSON object, or None when the key is absent or null."""
    return None if parent.get(key) is None else mapping(parent, key, path)


def mappings(parent: Mapping[str, Any], key: str, path: str) -> list[Mapping[str, Any]]:
    """A list of JSON objects; empty when the key is absent or null."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"{path}: expected a list")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise MalformedPayload(f"{path}[{index}]: expected an object")
    return value


def iso_time(parent: Mapping[str, Any], key: str, path: str) -> datetime | None:
    """An ISO 8601 timestamp in UTC (one without an offset is taken as UTC); None if absent."""
    value = parent.get(key)
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise MalformedPayload(f"{path}: expected an ISO 8601 timestamp") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def unix_time(parent: Mapping[str, Any], key: str, path: str) -> datetime | None:
    """Seconds since 1970 (a number or a numeric string such as Slack's ts); None if absent."""
    value = parent.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedPayload(f"{path}: expected a unix time")
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        raise MalformedPayload(f"{path}: expected a unix time") from None


def clip(text: str | None, limit: int = MAX_TEXT) -> str | None:
    """Text cut at `limit`; empty text as None."""
    return text[:limit] if text else None


def truncation(text: object, limit: int = MAX_TEXT) -> Fields:
    """{"text_truncated": True} when `clip` cuts this text, else nothing."""
    return {"text_truncated": True} if isinstance(text, str) and len(text) > limit else {}


def bare_links(text: str) -> list[str]:
    """URLs written out in plain or Markdown text, each once."""
    return unique(_LINK.findall(text))


def unique(items: Iterable[str]) -> list[str]:
    """The items in their first order, each once."""
    return list(dict.fromkeys(items))


def byte_size(value: object) -> int | None:
    """A file size as the platform reports it, or None when it is not a count of bytes."""
    return value if is_int(value) and value >= 0 else None
