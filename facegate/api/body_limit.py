"""``BodyLimit``: the ASGI middleware that bounds request bodies — their size, the bytes of all
bodies in flight at once, and the time a body may take to arrive — before any route buffers one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NoReturn

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facegate import errors
from facegate.api.errors import error_body, status_for

#: Seconds a client refused for load is asked to wait (as ``deps.RETRY_AFTER_S``).
RETRY_AFTER_S = 1


@dataclass(frozen=True, slots=True)
class BodyLimits:
    #: The largest body of an ordinary request (bytes): over it, 413 IMAGE_TOO_LARGE.
    max_bytes: int
    #: Paths (training uploads) with their own body limit, refused as ARCHIVE_TOO_LARGE; they
    #: are streamed to disk and not counted in flight.
    archives: dict[str, int]
    #: Bytes of all ordinary bodies being received or held at once (at least ``max_bytes``);
    #: a body that would go over it is refused at once with 503 OVERLOADED and Retry-After.
    max_in_flight: int
    #: Seconds from the start of a request until its whole body has arrived; later: 408
    #: REQUEST_TIMEOUT (a client that declares more bytes than it sends holds nothing longer).
    timeout_s: float


class _Refused(Exception):
    """Raised out of ``receive`` to stop the app; the middleware answers ``error`` itself."""

    def __init__(self, error: errors.FacegateError) -> None:
        super().__init__(error.message)
        self.error = error


class BodyLimit:
    """Refuses bodies over their limit (413), beyond the in-flight cap (503 OVERLOADED), or too
    slow to arrive (408 REQUEST_TIMEOUT), whether or not the client sent Content-Length.

    A refusal found while the app reads the body replaces whatever the app would answer (a
    route may wrap read errors in its own), so the client always gets the refusal's code."""

    def __init__(self, app: ASGIApp, *, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits
        self.in_flight = 0  # the event loop is single-threaded: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        archive = path in self.limits.archives
        limit = self.limits.archives.get(path, self.limits.max_bytes)
        declared_header = dict(scope.get("headers") or []).get(b"content-length", b"")
        declared = int(declared_header) if declared_header.isdigit() else 0
        if declared > limit:
            await _answer(send, _too_large(limit, archive=archive))
            return
        request = _Request(self, limit=limit, counted=not archive, archive=archive)
        try:
            request.reserve(declared)
        except _Refused as refused:
            await _answer(send, refused.error)
            return
        try:
            await self.app(scope, request.receiver(receive), request.sender(send))
        except _Refused:
            pass
        finally:
            self.in_flight -= request.reserved
        if request.refusal is not None and not request.started:
            await _answer(send, request.refusal)


class _Request:
    """One request's body accounting: bytes seen and reserved, the deadline, any refusal."""

    def __init__(self, owner: BodyLimit, *, limit: int, counted: bool, archive: bool) -> None:
        self.owner, self.limit, self.counted, self.archive = owner, limit, counted, archive
        self.deadline = anyio.current_time() + owner.limits.timeout_s
        self.seen = self.reserved = 0
        self.done = self.started = False
        self.refusal: errors.FacegateError | None = None

    def reserve(self, total: int) -> None:
        """Hold ``total`` bytes of this body in flight (503 OVERLOADED when over the cap)."""
        more = total - self.reserved
        if not self.counted or more <= 0:
            return
        owner = self.owner
        if owner.in_flight + more > max(owner.limits.max_in_flight, self.limit):
            raise _Refused(errors.OverloadedError(
                "the server is receiving too many request bytes at once; retry shortly",
                details={"retry_after_s": RETRY_AFTER_S,
                         "limit_bytes_in_flight": owner.limits.max_in_flight}))
        owner.in_flight += more
        self.reserved = total

    def receiver(self, receive: Receive) -> Receive:
        async def guarded() -> Message:
            if self.done:  # e.g. waiting for http.disconnect: no deadline
                return await receive()
            with anyio.move_on_after(max(0.0, self.deadline - anyio.current_time())):
                message = await receive()
                self._count(message)
                return message
            self._refuse(errors.RequestTimeoutError(
                f"the request body did not arrive within {self.owner.limits.timeout_s:g} s",
                details={"timeout_s": self.owner.limits.timeout_s,
                         "received_bytes": self.seen}))

        return guarded

    def _count(self, message: Message) -> None:
        if message["type"] != "http.request":
            self.done = True
            return
        self.seen += len(message.get("body", b""))
        self.done = not message.get("more_body", False)
        if self.seen > self.limit:
            self._refuse(_too_large(self.limit, archive=self.archive))
        try:
            self.reserve(self.seen)
        except _Refused as refused:
            self._refuse(refused.error)

    def _refuse(self, error: errors.FacegateError) -> NoReturn:
        self.refusal = error
        raise _Refused(error)

    def sender(self, send: Send) -> Send:
        async def tracking(message: Message) -> None:
            if self.refusal is not None and not self.started:
                return  # the app's answer to the broken read: ours goes out instead
            self.started = self.started or message["type"] == "http.response.start"
            await send(message)

        return tracking


def _too_large(limit: int, *, archive: bool) -> errors.FacegateError:
    message = f"the request body is over the limit of {limit} bytes"
    details = {"limit_bytes": limit}
    if archive:
        return errors.ArchiveTooLargeError(message, details=details)
    return errors.ImageTooLargeError(message, details=details)


async def _answer(send: Send, error: errors.FacegateError) -> None:
    body = json.dumps(error_body(error.code, error.message, error.details)).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if isinstance(error, errors.OverloadedError):
        headers.append((b"retry-after", str(RETRY_AFTER_S).encode()))
    if isinstance(error, errors.RequestTimeoutError):
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status_for(error), "headers": headers})
    await send({"type": "http.response.body", "body": body})
