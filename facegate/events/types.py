"""What an event is, and what a sink must do with one (the contract between the outbox's
deliverer and every sink: ``mqtt``, ``webhook``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from facegate.config_events import EVENT_TYPES

__all__ = ["EVENT_TYPES", "DeliveryError", "Event", "Sink"]


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, as stored in the outbox. Never an image or a descriptor, except
    ``snapshot`` (a JPEG face chip), kept only when a sink asks for snapshots."""

    id: str
    #: One of ``EVENT_TYPES``.
    type: str
    #: When it happened (UTC, timezone-aware).
    time: datetime
    #: The request's ``camera`` field, if any, and its ``X-Request-ID``.
    camera: str | None
    request_id: str | None
    #: The event's own JSON-ready fields (``identity_id``, ``name``, ``distance``, ``box``...).
    data: dict[str, Any] = field(default_factory=dict)
    snapshot: bytes | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON object every sink sends (without the snapshot)."""
        return {"event": self.type, "id": self.id,
                "time": self.time.isoformat().replace("+00:00", "Z"),
                "request_id": self.request_id, "camera": self.camera, **self.data}


class DeliveryError(Exception):
    """A delivery did not happen this time (target down, refused, timed out); the deliverer
    retries with backoff. The message says why, and names no personal data."""


class Sink(Protocol):
    #: Stable and unique among the configured sinks (``mqtt``, ``webhook:1``...): the outbox
    #: records each event's delivery per sink name.
    name: str

    def wants(self, event: Event) -> bool:
        """Whether this sink delivers events of this type at all."""
        ...

    def deliver(self, event: Event) -> None:
        """Deliver one event; return only once the receiver acknowledged it (MQTT: PUBACK for
        QoS 1; HTTP: a 2xx). Raise ``DeliveryError`` when it did not."""
        ...

    def deliver_many(self, events: Sequence[Event]) -> tuple[int, Exception | None]:
        """Deliver ``events`` in order, as ``deliver`` would one by one: how many were
        acknowledged (a prefix of ``events``) and, when that is not all, why the next one was
        not (a ``DeliveryError``)."""
        ...

    def start(self) -> None:
        """Connect (in the background); never raises because the target is unreachable."""
        ...

    def close(self) -> None: ...

    def problem(self) -> str | None:
        """What is wrong with this sink now (for ``/readyz`` and the start log), or None."""
        ...


def deliver_each(deliver: Callable[[Event], None],
                 events: Sequence[Event]) -> tuple[int, Exception | None]:
    """``Sink.deliver_many`` for a sink that sends one event at a time."""
    for done, event in enumerate(events):
        try:
            deliver(event)
        except Exception as exc:  # the deliverer records it as the next event's failure
            return done, exc
    return len(events), None
