"""The ``/metrics`` families read when scraped (``ScrapeCollector``): the gallery's counts
(``store.counts()``), the model workers (``ModelRunner.state()``, read on the event loop), the
index's sync with the store (what ``/v1/status`` reports), event deliveries and the outbox
backlog (``app.state.events``; None: no events), the build and the models with their licences
(``runtime/models.py`` through ``bootstrap.model_report``)."""

from __future__ import annotations

import asyncio
import logging
import platform
import time
from collections.abc import Iterator
from typing import Any, Protocol

from fastapi import FastAPI
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from facegate import __version__
from facegate.bootstrap import Facegate, model_report
from facegate.errors import FacegateError

logger = logging.getLogger(__name__)


class EventsView(Protocol):
    """What ``/metrics`` reads of ``app.state.events`` (the events part's deliverer)."""

    def delivery_counts(self) -> dict[tuple[str, str], int]: ...

    def backlog(self) -> int: ...


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

        try:
            here = asyncio.get_running_loop()
        except RuntimeError:  # a thread without a loop: the usual case
            here = None
        if self.loop is None or here is self.loop or not self.loop.is_running():
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
