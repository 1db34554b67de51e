"""``Events``: the one small interface the API emits events through, and the outbox's owner in
a server (``app.state.events``; None when events are off or no sink is configured).

``emit`` writes the event to the store's outbox (committed before it returns, so before the
request that caused it answers), with a pending delivery for each sink that wants its type,
and wakes the deliverer. An event no sink wants is not written. The face chip (``snapshot``)
is kept only when a sink that wants the event has ``snapshot`` on.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from facegate.config import Settings
from facegate.events.deliverer import Deliverer
from facegate.events.sinks import BuiltSinks, build_sinks
from facegate.events.types import Event, Sink
from facegate.storage.base import GalleryStore
from facegate.storage.events import OutboxEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Draft:
    """An event about to be emitted (``Events.emit_all`` writes several in one transaction)."""

    type: str
    camera: str | None
    request_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    snapshot: bytes | None = None


class Events:
    def __init__(self, store: GalleryStore, built: BuiltSinks, *, first_retry_s: float = 1.0,
                 max_retry_s: float = 300.0, retention_s: float = 86_400.0,
                 poll_s: float = 1.0) -> None:
        self._store, self._built = store, built
        self.sinks: list[Sink] = list(built.sinks)
        #: Whether any sink wants face chips: only then does identify encode them.
        self.wants_snapshots = bool(built.snapshots)
        self.deliverer = Deliverer(store, self.sinks, first_retry_s=first_retry_s,
                                   max_retry_s=max_retry_s, retention_s=retention_s,
                                   poll_s=poll_s)

    @classmethod
    def from_settings(cls, settings: Settings, store: GalleryStore) -> Events | None:
        """The server's events, or None when they are off or nothing is configured."""
        options = settings.events
        if not options.enabled or (not options.webhooks and not options.mqtt.url):
            return None
        return cls(store, build_sinks(settings), first_retry_s=options.first_retry_s,
                   max_retry_s=options.max_retry_s,
                   retention_s=options.retention_hours * 3600)

    def start(self) -> None:
        for sink in self.sinks:
            try:
                sink.start()
            except Exception:
                logger.exception("event sink %s did not start", sink.name)
        self.deliverer.start()
        names = [s.name for s in self.sinks]
        logger.info("events on: sinks %s, %d events waiting", names,
                    self._store.outbox_backlog(names))

    def close(self) -> None:
        self.deliverer.close()
        for sink in self.sinks:
            sink.close()

    def emit(self, type: str, *, camera: str | None, request_id: str | None,
             data: dict[str, Any], snapshot: bytes | None = None) -> None:
        self.emit_all([Draft(type, camera, request_id, data, snapshot)])

    def emit_all(self, drafts: list[Draft]) -> None:
        now = time.time()
        rows: list[tuple[OutboxEvent, list[str]]] = []
        for draft in drafts:
            stored = OutboxEvent(id=uuid.uuid4().hex, type=draft.type, time=now,
                                 camera=draft.camera, request_id=draft.request_id,
                                 data=draft.data)
            probe = Event(id=stored.id, type=draft.type, time=datetime.fromtimestamp(now, UTC),
                          camera=draft.camera, request_id=draft.request_id, data=draft.data)
            wanting = [s.name for s in self.sinks if s.wants(probe)]
            if not wanting:
                continue
            if draft.snapshot is not None and self._built.snapshots.intersection(wanting):
                stored = replace(stored, snapshot=draft.snapshot)
            rows.append((stored, wanting))
        if rows:
            self._store.add_events(rows, now=now)
            self.deliverer.wake()

    # the metrics contract (docs/operations.md)
    def delivery_counts(self) -> dict[tuple[str, str], int]:
        return self.deliverer.delivery_counts()

    def backlog(self) -> int:
        return self._store.outbox_backlog([s.name for s in self.sinks])

    def problems(self) -> dict[str, str]:
        """Sinks not working now (built or not): name → why (``/readyz``)."""
        found = dict(self._built.problems)
        for sink in self.sinks:
            try:
                problem = sink.problem()
            except Exception as exc:
                problem = type(exc).__name__
            if problem:
                found[sink.name] = problem
        return found

    def test_send(self, sink_name: str | None) -> list[dict[str, Any]]:
        """Send a ``test`` event to one sink (or every one) now, outside the outbox."""
        event = Event(id=uuid.uuid4().hex, type="test", time=datetime.now(UTC), camera=None,
                      request_id=None, data={"message": "a test event from facegate"})
        results = []
        for sink in self.sinks:
            if sink_name is not None and sink.name != sink_name:
                continue
            try:
                sink.deliver(event)
            except Exception as exc:
                results.append({"sink": sink.name, "delivered": False, "error": str(exc)})
            else:
                results.append({"sink": sink.name, "delivered": True,
                                "result": getattr(sink, "last_result", None) or "ok"})
        return results
