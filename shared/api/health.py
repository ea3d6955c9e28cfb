"""Liveness and readiness endpoints for a service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shared.api.problems import ServiceUnavailable, problem_response, problem_responses

Check = Callable[[], Awaitable[None]]

CHECK_TIMEOUT_SECONDS = 2.0
OK = "ok"
# Readiness is public to probes: it names what is down, never a host, port or driver text
# (those go to the log).
UNAVAILABLE = "unavailable"
_MAX_REASON = 300

logger = logging.getLogger(__name__)


class Liveness(BaseModel):
    """The process is up."""

    status: str = "ok"
    service: str


class Readiness(BaseModel):
    """Every dependency answered."""

    status: str = "ready"
    checks: dict[str, str]


def health_router(
    service: str,
    checks: Mapping[str, Check],
    *,
    timeout_seconds: float = CHECK_TIMEOUT_SECONDS,
) -> APIRouter:
    """Return a router with `/v1/<service>/healthz` (liveness) and `/readyz` (readiness)."""
    router = APIRouter(prefix=f"/v1/{service}", tags=[service])

    @router.get(
        "/healthz",
        summary="Liveness",
        description="Answers 200 while the process runs; checks no dependency.",
    )
    async def healthz() -> Liveness:
        return Liveness(service=service)

    @router.get(
        "/readyz",
        summary="Readiness",
        description=(
            "Runs every dependency check with a timeout. Answers 200 when all pass, "
            "else 503 naming each failed check (`checks`: ok or unavailable per dependency)."
        ),
        response_model=Readiness,
        responses=problem_responses(503),
    )
    async def readyz() -> Readiness | JSONResponse:
        reasons = await run_checks(checks, timeout_seconds=timeout_seconds)
        failed = sorted(name for name, reason in reasons.items() if reason != OK)
        if not failed:
            return Readiness(checks=reasons)
        logger.warning(
            "%s not ready: %s",
            service,
            "; ".join(f"{name}: {reasons[name]}" for name in failed),
        )
        public = {name: OK if reason == OK else UNAVAILABLE for name, reason in reasons.items()}
        problem = ServiceUnavailable(
            f"Not ready: {', '.join(failed)}.", retry_after=5, checks=public
        )
        return problem_response(problem)

    return router


async def run_checks(checks: Mapping[str, Check], *, timeout_seconds: float) -> dict[str, str]:
    """Run all checks concurrently; map each name to "ok" or a short failure reason (for logs)."""
    names = list(checks)
    results = await asyncio.gather(*(_run(checks[name], timeout_seconds) for name in names))
    return dict(zip(names, results, strict=True))


async def _run(check: Check, seconds: float) -> str:
    try:
        await asyncio.wait_for(check(), seconds)
    except TimeoutError:
        return f"timed out after {seconds:g}s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:_MAX_REASON]
    return OK
