"""A real webhook receiver for the event tests: an ``http.server`` on loopback in a thread.

It records every POST (headers, body, whether it was acknowledged) and answers 503 to the first
``fail_first`` requests, 204 to the rest. ``acknowledged()`` is what a receiver that drops
nothing but the refused requests ends up with.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    acknowledged: bool

    @property
    def payload(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


class Receiver:
    def __init__(self, port: int = 0, *, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    ok = receiver.fail_first <= 0
                    receiver.fail_first -= 1
                    receiver.received.append(Received(dict(self.headers.items()), body, ok))
                self.send_response(204 if ok else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def acknowledged(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.acknowledged]

    def events(self) -> list[dict[str, Any]]:
        """The acknowledged payloads, in arrival order."""
        return [r.payload for r in self.acknowledged()]

    def wait_for(self, count: int, *, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Wait until ``count`` events were acknowledged (fails the test after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.acknowledged()) >= count:
                time.sleep(0.2)  # a late duplicate would show now
                return self.events()
            time.sleep(0.02)
        raise AssertionError(f"{len(self.acknowledged())} of {count} events arrived: "
                             f"{[e.get('event') for e in self.events()]}")
