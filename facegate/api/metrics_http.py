"""``GET /metrics``: the request middleware, the route and the separate metrics port
(``metrics.port``).

- ``RequestMetrics`` (pure ASGI middleware, just inside ``RequestId``) counts every answer by
  route template (``scope["route"]``, set by the router; a mount's files: ``/ui/static/{path}``;
  requests refused before routing are matched against the OpenAPI document's templates; no
  route: ``unmatched``), method and status, times it, and
  reads the error ``code`` of 503 and 429 answers (only those bodies are looked at).
- ``metrics_scrape.ScrapeCollector`` reads the gauges (gallery, workers, index sync, events,
  build and models) when scraped.
- ``SidePort``: with ``metrics.port`` set, a small HTTP server (prometheus-client's, a daemon
  thread) on ``metrics.host``:port serves the same registry without a key, and the API port has
  no ``/metrics``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facegate.api.metrics import Metrics
from facegate.api.metrics_scrape import ScrapeCollector
from facegate.config_events import MetricsSettings

logger = logging.getLogger(__name__)
#: The ``method`` label's values (any other: ``other``).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Bodies of 503/429 answers longer than this are not read for their code.
_CODE_BYTES = 4096


class RequestMetrics:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, api: FastAPI) -> None:
        self.app = app
        self._metrics = metrics
        self._api = api
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, root = time.perf_counter(), scope.get("root_path", "")
        status = 500
        refusal: list[bytes] | None = None

        async def observing_send(message: Message) -> None:
            nonlocal status, refusal
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if status in (429, 503):
                    refusal = []
            elif (refusal is not None and message["type"] == "http.response.body"
                  and sum(map(len, refusal)) < _CODE_BYTES):
                refusal.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            route = self._route(scope, root)
            self._observe(scope, route, status, time.perf_counter() - started, refusal)

    def _observe(self, scope: Scope, route: str, status: int, seconds: float,
                 refusal: list[bytes] | None) -> None:
        method = scope.get("method", "GET")
        method = method if method in METHODS else "other"  # the client names it: bounded
        self._metrics.requests.labels(route, method, str(status)).inc()
        self._metrics.latency.labels(route, method).observe(seconds)
        if refusal is not None:
            self._metrics.observe_refusal(status, _code(b"".join(refusal)))

    def _route(self, scope: Scope, root: str) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
        mounted = scope.get("root_path", "")
        if isinstance(mounted, str) and mounted != root and mounted.startswith(root):
            return f"{mounted[len(root):]}/{{path}}"  # a mounted app (the console's files)
        if self._templates is None:  # refused before routing: the OpenAPI paths' templates
            self._templates = [(compile_path(template)[0], template)
                               for template in self._api.openapi().get("paths", {})]
        found = scope.get("path", "")
        return next((template for regex, template in self._templates if regex.match(found)),
                    "unmatched")


def _code(body: bytes) -> str | None:
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, str) else None


def router(metrics: Metrics) -> APIRouter:
    """``GET /metrics`` on the API's port (the caller adds the scope check)."""
    api = APIRouter(tags=["metrics"])

    @api.get("/metrics", include_in_schema=False)
    async def scrape(request: Request) -> Response:
        """The Prometheus text format (docs/operations.md, Metrics)."""
        body = await anyio.to_thread.run_sync(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return api


class SidePort:
    """The registry served on its own port (no key), started and stopped with the app."""

    def __init__(self, metrics: Metrics, *, host: str, port: int) -> None:
        self._metrics, self._host, self._port = metrics, host, port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server, self._thread = start_http_server(
            self._port, addr=self._host, registry=self._metrics.registry)
        logger.info("metrics on http://%s:%d/metrics", self._host, self._port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def install(app: FastAPI, options: MetricsSettings, *, scope: Any) -> None:
    """``app.state.metrics`` (None when ``metrics.enabled`` is off) and ``/metrics`` on the
    API port behind the ``scope`` dependency, or on ``options.port``. The middleware is added
    by the caller (its place among the middlewares matters)."""
    app.state.metrics = app.state.metrics_collector = app.state.metrics_port = None
    if not options.enabled:
        return
    metrics = app.state.metrics = Metrics()
    collector = app.state.metrics_collector = ScrapeCollector(app)
    metrics.registry.register(collector)
    if options.port:
        app.state.metrics_port = SidePort(metrics, host=options.host, port=options.port)
    else:
        app.include_router(router(metrics), dependencies=[scope])


def started(app: FastAPI) -> None:
    """At start, on the event loop: scrapes read the model runner here; the side port opens."""
    collector: ScrapeCollector | None = app.state.metrics_collector
    if collector is not None:
        collector.loop = asyncio.get_running_loop()
    side: SidePort | None = app.state.metrics_port
    if side is not None:
        side.start()


def stopped(app: FastAPI) -> None:
    side: SidePort | None = app.state.metrics_port
    if side is not None:
        side.close()
