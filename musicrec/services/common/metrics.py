"""Prometheus metrics with one registry per app, so several apps in one test process never clash.

Every app counts requests and measures latency per endpoint (the route template, not the raw path,
so ids in a path cannot blow up the label set) and status. A service adds its own counters with
``app.state.metrics.counter(...)``, e.g. events written or degraded answers.

With ``uvicorn --workers N`` each worker keeps its own numbers; scrape each worker or run one worker
per container.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "musicrec_"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    """The metrics of one app: HTTP counters and histograms plus service-specific counters."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            PREFIX + "http_requests",
            "HTTP requests by endpoint and status",
            ["service", "method", "endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            PREFIX + "http_request_duration_seconds",
            "HTTP request latency by endpoint and status",
            ["service", "method", "endpoint", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._counters: dict[str, Counter] = {}
        # (method, endpoint, status) -> the labelled children: ``labels()`` takes a lock and builds the
        # label tuple on every call, a noticeable part of the cheapest requests.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def counter(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
        """A counter ``musicrec_<name>_total`` on this app's registry (created once, then reused)."""
        if name not in self._counters:
            self._counters[name] = Counter(
                PREFIX + name, documentation, list(labelnames), registry=self.registry
            )
        return self._counters[name]

    def observe(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        children = self._children.get((method, endpoint, status))
        if children is None:
            labels = (self.service, method, endpoint, str(status))
            children = self.requests.labels(*labels), self.latency.labels(*labels)
            self._children[method, endpoint, status] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware overhead) that times every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            # The router stores the matched route in the shared scope; unmatched paths share one label.
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "<unmatched>"
            self.metrics.observe(scope["method"], endpoint, status, time.perf_counter() - start)


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics_endpoint(request: Request) -> Response:
    """Prometheus scrape endpoint."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
