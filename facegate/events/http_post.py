"""A lean HTTP/1.1 POST over one kept-alive connection, for the webhook sink.

The deliverer runs in the server process, so what it costs in Python is taken from identify
(bench/results/observability.md). ``http.client`` parses every answer's headers with the
``email`` package and builds requests header by header; this writes the request in one piece
and reads only what it needs from the answer: the status, ``Content-Length``,
``Transfer-Encoding: chunked`` and ``Connection: close``. Interim ``1xx`` answers are skipped;
an answer with neither length nor chunking is read to the end of the connection. Redirects are
answers like any other (the caller treats them as failures). Errors are ``OSError`` (connection,
timeout, TLS) or ``ProtocolError`` (a malformed answer).
"""

from __future__ import annotations

import socket
import ssl

#: Longest status line and header block accepted from a receiver.
MAX_HEAD = 64 * 1024
_CHUNK = 65536


class ProtocolError(Exception):
    """The receiver's answer is not HTTP/1.x as expected."""


class Answer:
    """A buffered reader over the socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock, self._buffer = sock, b""

    def _more(self) -> bool:
        data = self._sock.recv(_CHUNK)
        self._buffer += data
        return bool(data)

    def until(self, marker: bytes, limit: int) -> bytes:
        """Bytes up to and including ``marker``."""
        while (end := self._buffer.find(marker)) < 0:
            if len(self._buffer) > limit or not self._more():
                raise ProtocolError("the answer ended or grew too long before its end marker")
        end += len(marker)
        line, self._buffer = self._buffer[:end], self._buffer[end:]
        return line

    def skip(self, count: int) -> None:
        while len(self._buffer) < count:
            count -= len(self._buffer)
            self._buffer = b""
            if not self._more():
                raise ProtocolError("the answer ended before its announced length")
        self._buffer = self._buffer[count:]

    def drain(self) -> None:
        while self._more():
            self._buffer = b""


def _head(answer: Answer) -> tuple[int, dict[bytes, bytes]]:
    """Status and (lower-cased) headers of the next final answer (1xx skipped)."""
    while True:
        block = answer.until(b"\r\n\r\n", MAX_HEAD)
        status_line, *lines = block[:-4].split(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError("the answer does not start with an HTTP/1.x status line")
        headers: dict[bytes, bytes] = {}
        for line in lines:
            name, colon, value = line.partition(b":")
            if colon:
                headers[name.strip().lower()] = value.strip().lower()
        status = int(parts[1])
        if status >= 200 or status == 101:
            return status, headers


def _body(answer: Answer, headers: dict[bytes, bytes]) -> bool:
    """Read the body past; whether the connection can carry another request."""
    if b"chunked" in headers.get(b"transfer-encoding", b""):
        while True:
            size_line = answer.until(b"\r\n", MAX_HEAD).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise ProtocolError("a malformed chunk size") from None
            if size == 0:
                while answer.until(b"\r\n", MAX_HEAD) != b"\r\n":  # trailers
                    pass
                break
            answer.skip(size + 2)
    elif (length := headers.get(b"content-length")) is not None:
        if not length.isdigit():
            raise ProtocolError("a malformed Content-Length")
        answer.skip(int(length))
    else:
        answer.drain()
        return False
    return b"close" not in headers.get(b"connection", b"")


class Connection:
    """One kept-alive connection to ``host:port`` (TLS when ``context`` is given)."""

    def __init__(self, host: str, port: int | None, *, timeout_s: float,
                 context: ssl.SSLContext | None = None) -> None:
        default = 443 if context is not None else 80
        self._host, self._port, self._timeout = host, port or default, timeout_s
        self._context = context
        name = host if ":" not in host else f"[{host}]"  # an IPv6 literal
        self._host_header = name if self._port == default else f"{name}:{self._port}"
        self._sock: socket.socket | None = None
        self._answer: Answer | None = None

    @property
    def open(self) -> bool:
        return self._sock is not None

    def post(self, target: str, headers: dict[str, str], body: bytes) -> int:
        """POST ``body`` and read the whole answer; its status."""
        sock, answer = self._connected()
        lines = [f"POST {target} HTTP/1.1", f"Host: {self._host_header}",
                 f"Content-Length: {len(body)}",
                 *(f"{name}: {value}" for name, value in headers.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        status, answer_headers = _head(answer)
        if not _body(answer, answer_headers):
            self.close()
        return status

    def _connected(self) -> tuple[socket.socket, Answer]:
        if self._sock is None or self._answer is None:
            sock = socket.create_connection((self._host, self._port), timeout=self._timeout)
            if self._context is not None:
                sock = self._context.wrap_socket(sock, server_hostname=self._host)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock, self._answer = sock, Answer(sock)
        return self._sock, self._answer

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = self._answer = None
