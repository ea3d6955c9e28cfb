"""Which database errors mean "the database is down or busy", not "this event is bad".

Used by the consumer runtime (wait and retry without committing) and by the HTTP edge
(503 with Retry-After instead of 500).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shared.bus.failures import FailureClass

# SQLSTATE classes and codes that mean "try again later", whatever the statement:
# 08 connection exceptions, 53 insufficient resources, 40001 serialization failure,
# 40P01 deadlock, 55P03 lock not available, 57014 statement timeout, 57P01-57P03 the
# server is shutting down or starting.
_TRANSIENT_CLASSES = ("08", "53")
_TRANSIENT_CODES = frozenset({"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03"})
# SQLite says the same in words.
_TRANSIENT_SQLITE = ("database is locked", "database table is locked", "disk i/o error")
# asyncpg's connection-level exceptions, by name: asyncpg is not installed everywhere.
_TRANSIENT_DRIVER_ERRORS = frozenset(
    {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "ConnectionFailureError",
        "InterfaceError",
        "InternalClientError",
        "TooManyConnectionsError",
        "AdminShutdownError",
        "SerializationError",
        "DeadlockDetectedError",
    }
)


def is_transient_database_error(error: BaseException) -> bool:
    """True when `error` says the database is unreachable or busy rather than the statement."""
    if isinstance(error, PoolTimeout | InterfaceError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        sqlstate = sqlstate_of(error)
        if sqlstate is not None:
            return sqlstate in _TRANSIENT_CODES or sqlstate[:2] in _TRANSIENT_CLASSES
        if _transient_cause(error.orig):
            return True
        # Without a SQLSTATE (SQLite, a dropped socket) an operational error is the
        # server or the file, not the statement.
        return isinstance(error, OperationalError) and not _about_the_statement(error)
    return _transient_cause(error) or _transient_cause(error.__cause__)


def classify_database_error(error: BaseException) -> FailureClass | None:
    """A classifier for the consumer runtime: INFRASTRUCTURE for transient database errors."""
    if is_transient_database_error(error):
        return FailureClass.INFRASTRUCTURE
    return None


def sqlstate_of(error: BaseException) -> str | None:
    """The SQLSTATE of a database error, wherever the driver put it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for attribute in ("sqlstate", "pgcode"):
            value = getattr(current, attribute, None)
            if isinstance(value, str) and len(value) == 5:
                return value
        current = getattr(current, "orig", None) or current.__cause__
    return None


def _transient_cause(cause: BaseException | None) -> bool:
    if cause is None:
        return False
    if isinstance(cause, ConnectionError | TimeoutError):
        return True
    if type(cause).__name__ in _TRANSIENT_DRIVER_ERRORS:
        return True
    if isinstance(cause, OSError) and not isinstance(cause, FileNotFoundError | PermissionError):
        return True
    message = str(cause).lower()
    return any(text in message for text in _TRANSIENT_SQLITE)


def _about_the_statement(error: DBAPIError) -> bool:
    message = str(error.orig).lower()
    return any(word in message for word in ("syntax", "no such", "constraint", "no column"))
