"""``GET /metrics``: the request middleware, the families read at scrape time, the route and
the separate metrics port (``metrics.port``).

- ``RequestMetrics`` (pure ASGI middleware, just inside ``RequestId``) counts every answer by
  route template (``scope["route"]``, set by the router; requests refused before routing are
  matched against the OpenAPI document's templates; no route: ``unmatched``), method and status, times it, and
  reads the error ``code`` of 503 and 429 answers (only those bodies are looked at).
- ``ScrapeCollector`` reads, when scraped: the gallery's counts (``store.counts()``), the model
  workers (``ModelRunner.state()``), the index's sync with the store (what ``/v1/status``
  reports), event deliveries and the outbox backlog (``app.state.events``, None: no events),
  the build and the models in use.
- ``SidePort``: with ``metrics.port`` set, a small HTTP server (prometheus-client's, a daemon
  thread) on ``metrics.host``:port serves the same registry without a key, and the API port has
  no ``/metrics``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import platform
import re
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facegate import __version__
from facegate.api.metrics import Metrics
from facegate.bootstrap import Facegate, model_report
from facegate.config_events import MetricsSettings
from facegate.errors import FacegateError

logger = logging.getLogger(__name__)
#: Bodies of 503/429 answers longer than this are not read for their code.
_CODE_BYTES = 4096


class EventsView(Protocol):
    """What ``/metrics`` reads of ``app.state.events`` (the events part's deliverer)."""

    def delivery_counts(self) -> dict[tuple[str, str], int]: ...

    def backlog(self) -> int: ...


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
        started = time.perf_counter()
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
            self._observe(scope, status, time.perf_counter() - started, refusal)

    def _observe(self, scope: Scope, status: int, seconds: float,
                 refusal: list[bytes] | None) -> None:
        route, method = self._route(scope), scope.get("method", "GET")
        self._metrics.requests.labels(route, method, str(status)).inc()
        self._metrics.latency.labels(route, method).observe(seconds)
        if refusal is not None:
            self._metrics.observe_refusal(status, _code(b"".join(refusal)))

    def _route(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
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


class ScrapeCollector(Collector):
    """The families whose values are read when ``/metrics`` is scraped."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._out_of_sync_since: float | None = None
        self._models: list[dict[str, Any]] | None = None
        #: The app's event loop (set at start): ``ModelRunner.state()`` is read there.
        self.loop: asyncio.AbstractEventLoop | None = None

    def collect(self) -> Iterator[Metric]:
        facegate: Facegate = self._app.state.facegate
        yield from self._gallery(facegate)
        yield from self._workers()
        yield from self._events()
        yield from self._build(facegate)

    def _gallery(self, facegate: Facegate) -> Iterator[Metric]:
        try:
            identities, faces = facegate.store.counts()
            gallery = facegate.gallery.indexed
            store_marker = facegate.store.change_marker()
        except FacegateError:
            logger.warning("metrics: the gallery could not be read")
            return
        yield GaugeMetricFamily("facegate_gallery_identities", "Identities in the gallery",
                                value=identities)
        yield GaugeMetricFamily("facegate_gallery_faces", "Face samples in the gallery",
                                value=faces)
        in_sync = gallery.method.name == "hnsw" or gallery.index_marker == store_marker
        now = time.monotonic()
        if in_sync:
            self._out_of_sync_since = None
        elif self._out_of_sync_since is None:
            self._out_of_sync_since = now
        yield GaugeMetricFamily("facegate_index_in_sync", "1 when the search index has caught "
                                "up with the store's change marker", value=int(in_sync))
        yield GaugeMetricFamily(
            "facegate_index_sync_lag_seconds", "How long the index has been seen behind the "
            "store (0 in sync; measured between scrapes)",
            value=0.0 if self._out_of_sync_since is None else now - self._out_of_sync_since)

    def _workers(self) -> Iterator[Metric]:
        state = self._runner_state()
        for name, key, text in (
                ("facegate_model_workers", "workers", "Model worker slots"),
                ("facegate_model_workers_busy", "busy", "Model workers running a request"),
                ("facegate_model_queue_depth", "waiting", "Requests waiting for a worker"),
                ("facegate_model_admitted", "admitted", "Requests admitted (reading, waiting "
                 "or running)"),
                ("facegate_model_capacity", "capacity", "Requests that may be admitted")):
            yield GaugeMetricFamily(name, text, value=state[key])

    def _runner_state(self) -> dict[str, int]:
        """The runner's state, read on the event loop (scrapes run on other threads)."""
        runner = self._app.state.runner

        async def read() -> dict[str, int]:
            state: dict[str, int] = runner.state()
            return state

        if self.loop is None or not self.loop.is_running():
            return read_now(runner)
        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(timeout=5)

    def _events(self) -> Iterator[Metric]:
        events: EventsView | None = getattr(self._app.state, "events", None)
        if events is None:
            return
        deliveries = CounterMetricFamily(
            "facegate_event_deliveries", "Event delivery attempts by sink and outcome "
            "(failed: retried later)", labels=["sink", "outcome"])
        try:
            counts = events.delivery_counts()
            backlog = events.backlog()
        except Exception:  # the events part's problem must never break a scrape
            logger.warning("metrics: the event outbox could not be read", exc_info=True)
            return
        for (sink, outcome), count in sorted(counts.items()):
            deliveries.add_metric([sink, outcome], count)
        yield deliveries
        yield GaugeMetricFamily("facegate_event_outbox_backlog", "Events not yet delivered to "
                                "every sink that wants them", value=backlog)

    def _build(self, facegate: Facegate) -> Iterator[Metric]:
        build = GaugeMetricFamily("facegate_build_info", "The running facegate (always 1)",
                                  labels=["version", "python"])
        build.add_metric([__version__, platform.python_version()], 1)
        yield build
        if self._models is None:
            self._models = model_report(facegate)["models"]
        models = GaugeMetricFamily(
            "facegate_model_info", "Model weights facegate knows, with their licence "
            "(1: in use, 0: not)", labels=["key", "role", "name", "licence", "commercial_use"])
        for model in self._models:
            models.add_metric([model["key"], model["role"], model["name"], model["licence"],
                               str(model["commercial_use"]).lower()], int(model["in_use"]))
        yield models


def read_now(runner: Any) -> dict[str, int]:
    state: dict[str, int] = runner.state()
    return state


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
