"""The webhook sink: each wanted event POSTed as JSON to one URL, signed (docs/operations.md).

Headers: ``X-Facegate-Event`` (the type), ``X-Facegate-Timestamp`` (Unix seconds when sent) and,
with a secret, ``X-Facegate-Signature: t=<timestamp>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256(secret, ``f"{timestamp}.{body}"``) over the exact body bytes. A receiver recomputes
it, compares in constant time and refuses timestamps more than a few minutes from its clock, so
a captured request cannot be replayed later; the event's ``id`` lets it drop the duplicates
at-least-once delivery may bring. A 2xx answer is the acknowledgement; anything else (redirects
included: they are not followed), a timeout or a refused connection is a ``DeliveryError`` and
the deliverer retries.

It speaks HTTP/1.1 over one kept-alive connection (events/http_post.py: lighter than
``http.client``, because the deliverer shares the server process with identify).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import threading
import time
from collections.abc import Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

from facegate import __version__
from facegate.config_events import WebhookSettings
from facegate.events.http_post import Connection, ProtocolError
from facegate.events.types import DeliveryError, Event, deliver_each


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Facegate-Signature`` value for a body sent at ``timestamp``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: bytes, header: str, body: bytes, *, now: float,
                     tolerance_s: float = 300.0) -> bool:
    """What a receiver does: the header's ``t`` within ``tolerance_s`` of ``now`` and its
    ``v1`` the HMAC of ``f"{t}.{body}"``."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


class WebhookSink:
    def __init__(self, options: WebhookSettings, *, name: str) -> None:
        self.name, self.options, self.snapshot = name, options, options.snapshot
        self._wanted = frozenset(options.events)
        parts = urlsplit(options.url)
        self._https, self._host, self._port = (parts.scheme == "https", parts.hostname or "",
                                               parts.port)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._connection = Connection(
            self._host, self._port, timeout_s=options.timeout_s,
            context=ssl.create_default_context() if self._https else None)
        self._lock = threading.Lock()  # the deliverer and a test send share the connection
        self._problem: str | None = None
        #: The last delivery's outcome (``HTTP 204``), for the delivery log.
        self.last_result: str | None = None

    def wants(self, event: Event) -> bool:
        return not self._wanted or event.type in self._wanted

    def body(self, event: Event) -> bytes:
        payload: dict[str, Any] = event.payload()
        if self.snapshot and event.snapshot:
            payload["snapshot"] = base64.b64encode(event.snapshot).decode("ascii")
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def deliver(self, event: Event) -> None:
        body, sent_at = self.body(event), int(time.time())
        headers = {"Content-Type": "application/json", "X-Facegate-Event": event.type,
                   "X-Facegate-Timestamp": str(sent_at),
                   "User-Agent": f"facegate/{__version__}"}
        if self.options.secret is not None:
            headers["X-Facegate-Signature"] = signature(
                self.options.secret.get_secret_value().encode(), sent_at, body)
        with self._lock:
            reused = self._connection.open
            try:
                try:
                    status = self._connection.post(self._target, headers, body)
                except (OSError, ProtocolError):
                    if not reused:
                        raise
                    self._connection.close()  # a kept-alive connection the receiver closed
                    status = self._connection.post(self._target, headers, body)
            except (OSError, ProtocolError) as exc:
                self._connection.close()
                self._failed(f"{type(exc).__name__}: {exc}"[:200])
        if not 200 <= status < 300:
            self._failed(f"HTTP {status}")
        self._problem, self.last_result = None, f"HTTP {status}"

    def deliver_many(self, events: Sequence[Event]) -> tuple[int, Exception | None]:
        return deliver_each(self.deliver, events)

    def _failed(self, reason: str) -> NoReturn:
        self._problem = self.last_result = reason
        raise DeliveryError(reason)

    def start(self) -> None:
        """Connects on the first delivery."""

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def problem(self) -> str | None:
        return None if self._problem is None else f"last delivery failed: {self._problem}"
