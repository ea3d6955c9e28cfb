"""Prometheus metrics shared by the bus, the consumers and every HTTP service."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONSUMER_HANDLER_SECONDS = Histogram(
    "hearth_consumer_handler_seconds",
    "Time a consumer handler took for one event.",
    ["group", "event_type"],
)
CONSUMER_MESSAGES_TOTAL = Counter(
    "hearth_consumer_messages_total",
    "Records a consumer finished with, by outcome: "
    "handled, duplicate, retried, dead_lettered or invalid.",
    ["group", "topic", "outcome"],
)
CONSUMER_RETRIES_TOTAL = Counter(
    "hearth_consumer_retries_total",
    "Times a consumer retried records, by reason: infrastructure (a dependency was down, "
    "nothing committed meanwhile) or event (an unexplained failure of one event).",
    ["group", "reason"],
)
CONSUMER_WAITING = Gauge(
    "hearth_consumer_waiting_for_dependency",
    "1 while a consumer group member waits out a dependency outage with its partitions paused.",
    ["group"],
)
CONSUMER_LAG = Gauge(
    "hearth_consumer_lag_messages",
    "Records between a consumer group's committed offset and the partition's end.",
    ["group", "topic", "partition"],
)
BUS_PUBLISHED_TOTAL = Counter(
    "hearth_bus_published_total",
    "Records the bus producer published and the broker acknowledged.",
    ["topic"],
)
OUTBOX_PENDING = Gauge(
    "hearth_outbox_pending_rows",
    "Outbox rows committed but not yet published.",
    ["service"],
)
OUTBOX_PUBLISHED_TOTAL = Counter(
    "hearth_outbox_published_total",
    "Outbox rows published to the bus.",
    ["service"],
)
HTTP_REQUESTS_TOTAL = Counter(
    "hearth_http_requests_total",
    "HTTP requests answered, by route template and status.",
    ["service", "method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "hearth_http_request_seconds",
    "Time to answer an HTTP request, by route template.",
    ["service", "method", "route"],
)

CONSUMER_OUTCOMES = ("handled", "duplicate", "retried", "dead_lettered", "invalid")
RETRY_REASONS = ("infrastructure", "event")


def declare_consumer_series(group: str, topics: Iterable[str]) -> None:
    """Create a consumer group's series at zero before its first record.

    A counter series that first appears at 1 is invisible to `increase()` and `rate()`, so
    without this the first dead letter after a restart would not fire the alert, and the
    dashboards would show no line at all for a healthy group instead of 0.
    """
    for topic in topics:
        for outcome in CONSUMER_OUTCOMES:
            CONSUMER_MESSAGES_TOTAL.labels(group=group, topic=topic, outcome=outcome)
    for reason in RETRY_REASONS:
        CONSUMER_RETRIES_TOTAL.labels(group=group, reason=reason)
    CONSUMER_WAITING.labels(group=group).set(0)


# Label values for requests no route matched; the raw path would let any client
# create unbounded series.
UNMATCHED_ROUTE = "<unmatched>"
DEFAULT_SERVICE = "hearth"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def metrics_router() -> APIRouter:
    """Return a router serving `GET /metrics` in the Prometheus text format."""
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router


def route_template(scope: Scope) -> str | None:
    """Return the path template of the route that matched this request, if one did."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) else None


def service_of(template: str | None) -> str:
    """Return the service named by a `/v1/<service>/...` template, else the default."""
    parts = (template or "").split("/")
    if len(parts) > 2 and parts[1] == "v1" and parts[2] and not parts[2].startswith("{"):
        return parts[2]
    return DEFAULT_SERVICE


class PrometheusMiddleware:
    """Pure ASGI middleware that counts and times every HTTP request."""

    def __init__(self, app: ASGIApp, *, exclude: Iterable[str] = ("/metrics",)) -> None:
        self.app = app
        self.exclude = frozenset(exclude)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on and record its status and duration."""
        if scope["type"] != "http" or scope["path"] in self.exclude:
            await self.app(scope, receive, send)
            return
        status = 500  # what the client sees when the app raises before responding
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float) -> None:
        template = route_template(scope)
        labels: dict[str, Any] = {
            "service": service_of(template),
            "method": scope["method"] if scope["method"] in _METHODS else "OTHER",
            "route": template or UNMATCHED_ROUTE,
        }
        HTTP_REQUESTS_TOTAL.labels(**labels, status=str(status)).inc()
        HTTP_REQUEST_SECONDS.labels(**labels).observe(seconds)
