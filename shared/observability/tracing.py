"""W3C Trace Context (`traceparent`) helpers for HTTP requests and Kafka records."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from shared.observability.logging import bind_event

# Kafka header and HTTP header name; CloudEvents' distributed-tracing extension
# carries the same value as the `ce_traceparent` attribute.
TRACEPARENT_HEADER = "traceparent"

_VERSION = "00"
_SAMPLED = 0x01
_TRACEPARENT = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace_id>[0-9a-f]{32})-"
    r"(?P<span_id>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})(?P<rest>-.*)?"
)


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The parsed parts of a `traceparent` value."""

    trace_id: str
    span_id: str
    flags: int = _SAMPLED

    @property
    def sampled(self) -> bool:
        """Tell whether the caller asked for this trace to be recorded."""
        return bool(self.flags & _SAMPLED)

    def to_header(self) -> str:
        """Render as a version-00 `traceparent` value."""
        return f"{_VERSION}-{self.trace_id}-{self.span_id}-{self.flags:02x}"


def _new_trace_id() -> str:
    return secrets.token_hex(16)


def _new_span_id() -> str:
    return secrets.token_hex(8)


def new_traceparent(sampled: bool = True) -> str:
    """Start a new trace and return its root `traceparent`."""
    return TraceContext(_new_trace_id(), _new_span_id(), _SAMPLED if sampled else 0).to_header()


def parse_traceparent(value: str | None) -> TraceContext | None:
    """Parse a `traceparent` value; return None when it does not follow the spec."""
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, span_id = match["version"], match["trace_id"], match["span_id"]
    # Version ff is forbidden; version 00 has exactly four fields, later ones may add more.
    if version == "ff" or (version == _VERSION and match["rest"]):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return TraceContext(trace_id, span_id, int(match["flags"], 16))


def child_traceparent(parent: str | None) -> str:
    """Return a `traceparent` for a new span under parent, or a new trace if parent is unusable."""
    context = parse_traceparent(parent)
    if context is None:
        return new_traceparent()
    # Only the sampled bit is defined; other flags of a newer version are not ours to forward.
    return TraceContext(context.trace_id, _new_span_id(), context.flags & _SAMPLED).to_header()


def trace_id_of(traceparent: str | None) -> str | None:
    """Return the trace id in a `traceparent` value, or None when it is invalid."""
    context = parse_traceparent(traceparent)
    return context.trace_id if context else None


class TraceContextMiddleware:
    """Binds each HTTP request's W3C trace id to the logs, continuing the caller's trace.

    A request without a valid `traceparent` header starts a new trace; the response
    carries the request's traceparent so a caller can find its logs and events.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"traceparent":
                incoming = value.decode("latin-1")
        traceparent = child_traceparent(incoming)
        scope.setdefault("state", {})["traceparent"] = traceparent

        async def send_with_trace(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append((b"traceparent", traceparent.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with bind_event(None, trace_id_of(traceparent)):
            await self.app(scope, receive, send_with_trace)
