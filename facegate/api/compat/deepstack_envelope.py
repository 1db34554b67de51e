"""``DeepStackEnvelope``: the ASGI middleware that words the refusals other layers answer on
DeepStack's paths (``/v1/vision…``: body limits, rate limits, unknown routes such as DeepStack's
object detection, methods) in DeepStack's envelope
``{"success": false, "error": ...}``, keeping their status and headers (``Retry-After``).

The dialect's routes answer in that envelope themselves (deepstack_wire); this catches what
never reaches them. It sits outside the audit trail and the metrics, which still read
facegate's error codes.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facegate.api.compat.deepstack_wire import INCORRECT_KEY

PREFIX = "/v1/vision"
#: facegate's codes whose DeepStack wording differs from facegate's message.
WORDING = {"IMAGE_TOO_LARGE": "image too large", "UNAUTHORIZED": INCORRECT_KEY}


def reworded(body: bytes) -> bytes | None:
    """DeepStack's envelope for a body in facegate's (None: not facegate's error body)."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return None
    message = WORDING.get(str(error.get("code")), error["message"])
    return json.dumps({"success": False, "error": message, "duration": 0}).encode()


class DeepStackEnvelope:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        held: list[Message] = []  # an error answer's start, until its whole body is here
        body = bytearray()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held.append(message)
                return
            if not held or message["type"] != "http.response.body":
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body", False):
                return
            start, content = held.pop(), bytes(body)
            new = reworded(content)
            if new is not None:
                start = {**start, "headers": [
                    *((k, v) for k, v in start.get("headers", [])
                      if k.lower() not in (b"content-length", b"content-type")),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(new)).encode())]}
                content = new
            await send(start)
            await send({"type": "http.response.body", "body": content})

        await self.app(scope, receive, sending)
