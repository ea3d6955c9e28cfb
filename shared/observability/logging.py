"""JSON-lines logging with event/trace context and redaction of secrets."""

from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

REDACTED = "[REDACTED]"

_event_id: ContextVar[str | None] = ContextVar("hearth_event_id", default=None)
_trace_id: ContextVar[str | None] = ContextVar("hearth_trace_id", default=None)
_service: ContextVar[str | None] = ContextVar("hearth_service", default=None)

# Substring match on purpose: `bot_token`, `client_secret` and `db_password` must all be caught.
_SECRET_KEY = re.compile(r"secret|token|password|passwd|authorization|api_?key|cookie", re.I)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}

_CONTEXT_FIELDS = ("event_id", "trace_id", "service")

# Marks the handler we install so a second configure_logging call replaces it.
_HANDLER_NAME = "hearth"


def current_event_id() -> str | None:
    """Return the event id bound to the current context, if any."""
    return _event_id.get()


def current_trace_id() -> str | None:
    """Return the trace id bound to the current context, if any."""
    return _trace_id.get()


@contextmanager
def bind_event(event_id: str | None, trace_id: str | None = None) -> Iterator[None]:
    """Tag every log line written inside the block with this event and trace id."""
    event_token = _event_id.set(event_id)
    trace_token = _trace_id.set(trace_id)
    try:
        yield
    finally:
        _trace_id.reset(trace_token)
        _event_id.reset(event_token)


@contextmanager
def bind_service(service: str) -> Iterator[None]:
    """Tag every log line written inside the block with this service name."""
    token = _service.set(service)
    try:
        yield
    finally:
        _service.reset(token)


def is_secret_key(key: str) -> bool:
    """Tell whether a field with this name may hold a credential."""
    return bool(_SECRET_KEY.search(key))


def redact(value: Any) -> Any:
    """Return a copy of value with the values of secret-looking keys replaced, at any depth."""
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and is_secret_key(k) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Return the fields a caller passed with `extra=` on this record."""
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS}


class RedactSecretsFilter(logging.Filter):
    """Replace secret values in `extra=` fields before any formatter sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place and always keep the record."""
        for key, value in extra_fields(record).items():
            setattr(record, key, REDACTED if is_secret_key(key) else redact(value))
        return True


class ContextFilter(logging.Filter):
    """Copy the bound event id, trace id and service onto each record."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self._default_service = service

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach context attributes and always keep the record."""
        # A value passed explicitly with `extra=` wins over the ambient context.
        for key, value in (
            ("event_id", _event_id.get()),
            ("trace_id", _trace_id.get()),
            ("service", _service.get() or self._default_service),
        ):
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


class RateLimitFilter(logging.Filter):
    """Let each message template of some loggers through `burst` times per `period` seconds.

    aiokafka logs every failed reconnect, thousands a second while a broker is away; the
    first lines say what happened, the rest only bury other logs. The first line let
    through after a quiet-down carries `suppressed`: how many similar lines were dropped.
    """

    def __init__(
        self,
        prefixes: tuple[str, ...] = ("aiokafka",),
        *,
        burst: int = 5,
        period: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._burst = burst
        self._period = period
        self._clock = clock
        self._lock = threading.Lock()
        # (logger, template) -> [window start, lines let through, lines dropped]
        self._windows: dict[tuple[str, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record unless its template already used up this window."""
        if not any(record.name == p or record.name.startswith(p + ".") for p in self._prefixes):
            return True
        key = (record.name, str(record.msg))
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window[0] >= self._period:
                if len(self._windows) > 1000:
                    self._windows.clear()
                self._windows[key] = [now, 1, 0]
                if window is not None and window[2]:
                    record.suppressed = int(window[2])
                return True
            if window[1] < self._burst:
                window[1] += 1
                return True
            window[2] += 1
            return False


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the JSON line for record."""
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _CONTEXT_FIELDS:
            if getattr(record, key, None) is not None:
                line[key] = getattr(record, key)
        for key, value in extra_fields(record).items():
            if key not in _CONTEXT_FIELDS:
                line.setdefault(key, value)
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return jsonlib.dumps(line, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """The message, then the context and `extra=` fields as key=value (for a terminal)."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the text rich prints after the time and level."""
        fields = {
            key: getattr(record, key)
            for key in ("event_id", "trace_id")
            if getattr(record, key, None) is not None
        }
        fields.update(
            (key, value)
            for key, value in extra_fields(record).items()
            if key not in fields and key not in _CONTEXT_FIELDS and value is not None
        )
        where = getattr(record, "service", None) or record.name
        text = f"{where}: {record.getMessage()}"
        if fields:
            text += "  " + " ".join(f"{key}={value}" for key, value in fields.items())
        return text


LOG_FORMATS = ("auto", "json", "console")


def resolve_log_format(log_format: str, stream: TextIO | None = None) -> str:
    """`json` or `console`: `auto` is console on a terminal, JSON for files, pipes, collectors."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r}: choose from {', '.join(LOG_FORMATS)}")
    if log_format != "auto":
        return log_format
    out = stream or sys.stderr
    return "console" if out.isatty() else "json"


def configure_logging(
    level: str = "INFO",
    json: bool = True,
    *,
    service: str | None = None,
    stream: TextIO | None = None,
    log_format: str | None = None,
) -> None:
    """Send all logging to stderr (or stream), as JSON lines unless json is False.

    `log_format` (auto, json or console) overrides `json`: console is rich's coloured lines,
    secrets redacted the same way, tracebacks without local variables.
    """
    out = stream or sys.stderr
    chosen = resolve_log_format(log_format, out) if log_format else ("json" if json else "text")
    handler: logging.Handler
    if chosen == "console":
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(
            console=Console(file=out, stderr=out is sys.stderr),
            show_path=False,
            rich_tracebacks=True,
            tracebacks_show_locals=False,
            log_time_format="%H:%M:%S",
        )
        handler.setFormatter(ConsoleFormatter())
    else:
        handler = logging.StreamHandler(out)
        handler.setFormatter(
            JsonFormatter()
            if chosen == "json"
            else logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(trace_id)s] %(message)s")
        )
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RateLimitFilter())
    handler.addFilter(ContextFilter(service))
    handler.addFilter(RedactSecretsFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
