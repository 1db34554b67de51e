"""``RateLimit``: the ASGI middleware that holds each caller to a request rate per scope.

A caller is its credential when it sends one (the ``X-API-Key`` or ``Authorization: Bearer``
value, kept only as a SHA-256 digest and never logged), else its client address. Each caller
has a token bucket per scope: ``per_minute`` tokens a minute, at most ``burst`` saved up; a
request takes one, and one that finds none is answered ``429 RATE_LIMITED`` with
``Retry-After`` (whole seconds until a token is back) before its body is read or a worker is
asked. Scopes today: ``recognize`` (identify, verify, detect, embed, liveness; DeepStack's
detect, recognize and match, whose key in the form is not read here: by address). A bucket left
alone until it is full again is the same as no bucket, so it is dropped; ``max_buckets`` bounds
the rest (the least recently used goes first). One process keeps its own buckets: behind N
replicas a caller gets up to N times the rate.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from facegate import errors
from facegate.api.errors import error_body, status_for

#: CompreFace's model calls (api/compat): refused in its envelope, ``{"message", "code"}``.
COMPREFACE_RECOGNIZE = ("/api/v1/recognition/recognize", "/api/v1/detection/detect",
                        "/api/v1/verification/verify")
#: Paths of the ``recognize`` scope: exact paths, and prefixes ending in ``/``.
RECOGNIZE_PATHS = ("/v1/identify", "/v1/verify", "/v1/detect", "/v1/embed", "/v1/liveness/",
                   "/v1/vision/face", "/v1/vision/face/recognize", "/v1/vision/face/match",
                   *COMPREFACE_RECOGNIZE)


def in_scope(path: str, paths: tuple[str, ...]) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in paths)


class TokenBuckets:
    """Token buckets by caller, for one scope."""

    def __init__(self, *, per_minute: int, burst: int, max_buckets: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0  # tokens a second
        self.burst = float(max(burst, 1))
        self.max_buckets = max_buckets
        self.full_after = self.burst / self.rate  # seconds an empty bucket takes to fill
        self.clock = clock
        #: caller -> (tokens, when counted); oldest use first
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, caller: str) -> float:
        """Take a token: 0.0 when there was one, else the seconds until there is."""
        now = self.clock()
        tokens, then = self.buckets.pop(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self.buckets[caller] = (tokens, now)
        self._forget(now)
        return wait

    def _forget(self, now: float) -> None:
        """Drop the buckets that are full again, then the least recently used over the cap."""
        buckets = self.buckets
        while buckets:
            caller, (tokens, then) = next(iter(buckets.items()))
            if tokens + (now - then) * self.rate < self.burst and len(buckets) <= self.max_buckets:
                break
            del buckets[caller]


@dataclass(frozen=True, slots=True)
class LimitedScope:
    name: str
    paths: tuple[str, ...]
    per_minute: int
    buckets: TokenBuckets


class RateLimit:
    """Answers 429 RATE_LIMITED to a caller over its rate for the scope of the path."""

    def __init__(self, app: ASGIApp, *, recognize_per_minute: int, recognize_burst: int,
                 max_buckets: int) -> None:
        self.app = app
        self.scopes = [
            LimitedScope("recognize", RECOGNIZE_PATHS, per_minute, TokenBuckets(
                per_minute=per_minute, burst=recognize_burst, max_buckets=max_buckets))
            for per_minute in (recognize_per_minute,) if per_minute > 0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.scopes:
            path = scope.get("path", "")
            for limited in self.scopes:
                if in_scope(path, limited.paths):
                    wait = limited.buckets.take(caller(scope))
                    if wait > 0.0:
                        await _refuse(send, limited, wait, compreface=path.startswith("/api/"))
                        return
        await self.app(scope, receive, send)


def caller(scope: Scope) -> str:
    """``key:<digest>`` for a request with a credential, else ``address:<client address>``."""
    key = bearer = b""
    for name, value in scope.get("headers") or []:
        if name == b"x-api-key":
            key = key or value.strip()
        elif name == b"authorization" and value[:7].lower() == b"bearer ":
            bearer = bearer or value[7:].strip()
    credential = key or bearer
    if credential:
        return "key:" + hashlib.sha256(credential).hexdigest()
    client = scope.get("client")
    return f"address:{client[0] if client else '-'}"


async def _refuse(send: Send, limited: LimitedScope, wait: float, *,
                  compreface: bool = False) -> None:
    retry_after = max(1, math.ceil(wait))
    error = errors.RateLimitedError(
        f"too many {limited.name} requests from this caller (limit {limited.per_minute} a "
        f"minute); retry after {retry_after} s",
        details={"retry_after_s": retry_after, "scope": limited.name,
                 "limit_per_minute": limited.per_minute})
    body = json.dumps({"message": error.message, "code": 0} if compreface
                      else error_body(error.code, error.message, error.details)).encode()
    await send({"type": "http.response.start", "status": status_for(error), "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after).encode())]})
    await send({"type": "http.response.body", "body": body})
