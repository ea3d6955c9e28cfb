"""HTTP requests continue the caller's trace, and their log lines carry its id."""

from __future__ import annotations

import io
import json
import logging

import httpx
from fastapi import FastAPI

from shared.observability.logging import configure_logging
from shared.observability.tracing import TraceContextMiddleware, parse_traceparent

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def app() -> FastAPI:
    api = FastAPI()
    api.add_middleware(TraceContextMiddleware)

    @api.get("/work")
    async def work() -> dict[str, str]:
        logging.getLogger("hearth.test").info("working")
        return {"ok": "yes"}

    return api


async def test_request_continues_the_callers_trace_in_logs_and_response() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/work", headers={"traceparent": PARENT})
    returned = parse_traceparent(answer.headers["traceparent"])
    assert returned is not None
    assert returned.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert returned.span_id != "00f067aa0ba902b7", "the server's own span"
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if "working" in line]
    assert lines and lines[0]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_request_without_trace_starts_one() -> None:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/work", headers={"traceparent": "garbage"})
    assert parse_traceparent(answer.headers["traceparent"]) is not None
