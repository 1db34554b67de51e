"""``RequestId``: the ASGI middleware that gives every request an id, outermost of all.

- The id is the request's own ``X-Request-ID`` when that is a sane token (1-128 characters of
  ``[A-Za-z0-9._-]``, so a proxy's or a client's id carries through), else a new uuid4 hex.
- It is answered in ``X-Request-ID`` on every response, held in ``request.state.request_id``
  for the routes (and the audit log), and in ``REQUEST_ID`` (a context variable) for the log
  lines written while the request runs: ``RequestIdFilter`` puts it on each record as
  ``%(request_id)s`` (``-`` outside a request). Model work runs on worker threads, which anyio
  starts in a copy of the request's context, so their lines carry it too.
- An exception nothing else answered becomes the usual 500 INTERNAL_ERROR here, still inside
  the request's context: its log line names the request and the client gets the id to quote.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facegate.api.errors import error_body

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode("latin-1")
_SANE = re.compile(rb"[A-Za-z0-9._-]{1,128}")
#: The id of the request being served in this context (None outside a request).
REQUEST_ID: ContextVar[str | None] = ContextVar("facegate_request_id", default=None)

logger = logging.getLogger(__name__)


def request_id_from(given: bytes | None) -> str:
    """The client's id when it is a sane token, else a fresh one."""
    if given is not None and _SANE.fullmatch(given):
        return given.decode("ascii")
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (put it on handlers: ``%(request_id)s``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = [v for k, v in scope.get("headers") or [] if k == _HEADER_KEY]
        request_id = request_id_from(given[0] if len(given) == 1 else None)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (_HEADER_KEY, request_id.encode("ascii"))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers") or [] if h[0].lower() != _HEADER_KEY]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if started:
                raise
            logger.exception("unexpected error")
            await _internal_error(send_with_id)
        finally:
            REQUEST_ID.reset(token)


async def _internal_error(send: Send) -> None:
    body = json.dumps(error_body("INTERNAL_ERROR", "an unexpected error occurred")).encode()
    await send({"type": "http.response.start", "status": 500, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
