"""Failure classes: a broken event is parked, a broken dependency is waited out.

A consumer that dead-letters whatever fails loses effects whenever the database
blips; one that retries whatever fails forever is stopped by one poison event. The
runtime therefore asks `classify` what an exception means:

- `INFRASTRUCTURE`: a dependency is down or busy (database unreachable, serialization
  failure, deadlock, broker timeout). Nothing is wrong with the event: wait, retry the
  same records without committing, however long it takes.
- `POISON`: the event can never be handled (invalid payload, a handler's typed
  rejection). Dead-letter it at once: retrying changes nothing.
- `UNKNOWN`: anything else. Retried a few times on its own; if the dependencies are
  healthy and it still fails, it is treated as poison.
"""

from __future__ import annotations

import enum
import socket
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from shared.bus.port import BusUnavailable, CommitFailed
from shared.events.envelope import EnvelopeError


class FailureClass(enum.Enum):
    """What an exception says about the event that raised it."""

    INFRASTRUCTURE = "infrastructure"
    POISON = "poison"
    UNKNOWN = "unknown"


class Rejected(Exception):
    """A handler's typed refusal: this event can never be handled; park it with `reason`.

    The reason goes into the dead letter's headers and the log, so it must not quote
    member text.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DependencyUnavailable(Exception):
    """A handler's way to say a dependency (a platform, a model server) is down: wait."""


Classifier = Callable[[BaseException], "FailureClass | None"]
"""Knows some kind of exception (e.g. the database's) and says its class, else None."""


def classify(error: BaseException, classifiers: Sequence[Classifier] = ()) -> FailureClass:
    """Which class `error` belongs to (see the module docstring)."""
    if isinstance(error, Rejected | ValidationError | EnvelopeError):
        return FailureClass.POISON
    for classifier in classifiers:
        found = classifier(error)
        if found is not None:
            return found
    if isinstance(
        error,
        BusUnavailable
        | CommitFailed
        | DependencyUnavailable
        | ConnectionError
        | TimeoutError
        | socket.gaierror,
    ):
        return FailureClass.INFRASTRUCTURE
    if isinstance(error.__cause__, ConnectionError | TimeoutError):
        return FailureClass.INFRASTRUCTURE
    return FailureClass.UNKNOWN


def describe(error: BaseException, *, limit: int = 300) -> str:
    """A short message about `error` that quotes no payload value.

    Pydantic's messages repeat the input and SQLAlchemy's repeat the bound parameters,
    and both could be member text; they are summarised by location and kind instead.
    """
    if isinstance(error, ValidationError):
        parts = []
        for item in error.errors(include_input=False, include_url=False, include_context=False):
            where = ".".join(str(part) for part in item.get("loc", ())) or "payload"
            parts.append(f"{where}: {item.get('type', 'invalid')}")
        return _cut(f"{error.error_count()} validation error(s): " + "; ".join(parts), limit)
    if isinstance(error, Rejected):
        return _cut(error.reason, limit)
    orig = getattr(error, "orig", None)
    if orig is not None and hasattr(error, "statement"):
        # A database error: its text carries the statement and its bound parameters.
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        code = f" (SQLSTATE {sqlstate})" if isinstance(sqlstate, str) else ""
        return _cut(f"{type(error).__name__}: {type(orig).__name__}{code}", limit)
    return _cut(str(error) or type(error).__name__, limit)


def _cut(text: str, limit: int) -> str:
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return first_line if len(first_line) <= limit else first_line[: limit - 1] + "…"
