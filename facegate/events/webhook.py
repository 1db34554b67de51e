"""The webhook sink: each wanted event POSTed as JSON to one URL, signed (docs/operations.md).

Headers: ``X-Facegate-Event`` (the type), ``X-Facegate-Timestamp`` (Unix seconds when sent) and,
with a secret, ``X-Facegate-Signature: t=<timestamp>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256(secret, ``f"{timestamp}.{body}"``) over the exact body bytes. A receiver recomputes
it, compares in constant time and refuses timestamps more than a few minutes from its clock, so
a captured request cannot be replayed later; the event's ``id`` lets it drop the duplicates
at-least-once delivery may bring. A 2xx answer is the acknowledgement; anything else (redirects
included: they are not followed), a timeout or a refused connection is a ``DeliveryError`` and
the deliverer retries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, NoReturn

import httpx

from facegate import __version__
from facegate.config_events import WebhookSettings
from facegate.events.types import DeliveryError, Event


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
        self._client: httpx.Client | None = None
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
        try:
            answer = self._http().post(self.options.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self._failed(f"{type(exc).__name__}: {exc}"[:200])
        if not 200 <= answer.status_code < 300:
            self._failed(f"HTTP {answer.status_code}")
        self._problem, self.last_result = None, f"HTTP {answer.status_code}"

    def _failed(self, reason: str) -> NoReturn:
        self._problem = self.last_result = reason
        raise DeliveryError(reason)

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.options.timeout_s, follow_redirects=False)
        return self._client

    def start(self) -> None:
        self._http()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def problem(self) -> str | None:
        return None if self._problem is None else f"last delivery failed: {self._problem}"
