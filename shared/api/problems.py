"""RFC 9457 problem details: typed errors a caller can act on, mapped once to JSON."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.db.errors import is_transient_database_error

PROBLEM_MEDIA_TYPE = "application/problem+json"
# A PostgreSQL restart takes seconds; clients retrying sooner only add load.
DATABASE_RETRY_AFTER_SECONDS = 5

logger = logging.getLogger(__name__)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Problem(Exception):
    """An error answered as problem+json; subclasses fix the status and title."""

    status: int = 500
    title: str | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        type: str = "about:blank",
        instance: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.status = status or self.status
        # With type about:blank, RFC 9457 wants the title to be the status phrase.
        self.title = title or self.title or _phrase(self.status)
        self.detail = detail
        self.type = type
        self.instance = instance
        self.errors = errors
        self.headers = dict(headers or {})
        self.extra = extra
        super().__init__(detail or self.title)

    def to_body(self) -> dict[str, Any]:
        """Return the problem+json members, leaving out empty optional ones."""
        body: dict[str, Any] = {**self.extra, "type": self.type, "title": self.title}
        body["status"] = self.status
        if self.detail is not None:
            body["detail"] = self.detail
        if self.instance is not None:
            body["instance"] = self.instance
        if self.errors is not None:
            body["errors"] = self.errors
        return body


class BadRequest(Problem):
    """The request is malformed in a way validation did not catch."""

    status = 400


class Unauthorized(Problem):
    """No usable credentials; tells the client to send a bearer token."""

    status = 401

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(Problem):
    """Valid credentials that do not allow this action."""

    status = 403


class NotFound(Problem):
    """The resource does not exist or the caller may not know that it does."""

    status = 404


class Conflict(Problem):
    """The request clashes with the current state of the resource."""

    status = 409


class PayloadTooLarge(Problem):
    """The request body is larger than the endpoint accepts."""

    status = 413


class ServiceUnavailable(Problem):
    """A dependency is down; the client should retry after the given seconds."""

    status = 503

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("Retry-After", str(retry_after))


class ProblemFieldError(BaseModel):
    """One invalid input field of a 422 problem."""

    loc: str = Field(description="dotted path to the field, e.g. body.actor.member_id")
    msg: str
    type: str = Field(description="machine-readable error kind, e.g. missing")


class ProblemModel(BaseModel):
    """An RFC 9457 problem details object, for OpenAPI documentation."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URI identifying the problem type")
    title: str = Field(description="short summary of the problem type")
    status: int = Field(description="HTTP status code")
    detail: str | None = Field(default=None, description="explanation of this occurrence")
    instance: str | None = None
    errors: list[ProblemFieldError] | None = None


_PROBLEM_SCHEMA_REF = f"#/components/schemas/{ProblemModel.__name__}"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return a `responses=` mapping documenting these statuses as problem+json."""
    return {
        status: {
            "model": ProblemModel,
            "description": _phrase(status),
            # `model` registers the component schema; FastAPI files it under the route's
            # media type, so the problem+json entry points at it explicitly.
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_SCHEMA_REF}}},
        }
        for status in statuses
    }


PROBLEM_RESPONSES = problem_responses(400, 401, 403, 404, 409, 413, 422, 500, 503)


def problem_response(problem: Problem) -> JSONResponse:
    """Render a Problem as a problem+json response."""
    return JSONResponse(
        problem.to_body(),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error raised by app, expected or not, with problem+json."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    # Registered by class so they are answered inside the app, not re-raised to the server.
    for error in _DATABASE_ERRORS:
        app.add_exception_handler(error, _on_unhandled)
    app.add_exception_handler(Exception, _on_unhandled)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    problem = Problem(
        detail if detail != _phrase(exc.status_code) else None,
        status=exc.status_code,
        headers=exc.headers,
    )
    return problem_response(problem)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc.errors())
    return problem_response(
        Problem(
            f"{len(errors)} invalid field(s) in the request.",
            status=422,
            errors=errors,
        )
    )


async def _on_unhandled(request: Request, exc: Exception) -> JSONResponse:
    if is_transient_database_error(exc):
        # An outage, not a bug: one line per request, no traceback, nothing of the server's
        # address or the driver's text in the answer.
        logger.warning(
            "database unavailable in %s %s: %s", request.method, request.url.path, _name(exc)
        )
        return problem_response(database_unavailable())
    # The client gets no internals; the operator gets the traceback.
    logger.error(
        "unhandled error in %s %s",
        request.method,
        request.url.path,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return problem_response(Problem("An unexpected error occurred.", status=500))


def database_unavailable() -> ServiceUnavailable:
    """The problem answered while the database cannot be reached."""
    return ServiceUnavailable(
        "The database is unavailable; retry later.",
        retry_after=DATABASE_RETRY_AFTER_SECONDS,
        dependency="database",
    )


def _name(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc.__cause__
    return type(exc).__name__ + (f" ({type(cause).__name__})" if cause is not None else "")


def _driver_errors() -> tuple[type[Exception], ...]:
    """asyncpg's own base errors, raised unwrapped while connecting; absent without asyncpg."""
    try:
        from asyncpg.exceptions import InterfaceError, PostgresError
    except ImportError:
        return ()
    return (PostgresError, InterfaceError)


_DATABASE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, OSError, *_driver_errors())


def field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Reduce pydantic errors to loc, msg and type; `input` and `ctx` may hold secrets."""
    return [
        {
            "loc": ".".join(str(part) for part in error.get("loc", ())),
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors
    ]
