"""The webhook sink's HTTP/1.1 client against a real socket server that answers the ways real
receivers do: lengths, chunks, interim 100s, closes, keep-alive, and broken answers."""

from __future__ import annotations

import socket
import threading

import pytest

from facegate.events.http_post import Connection, ProtocolError


class Scripted:
    """Accepts connections; answers each request (read up to its body) with the next answer."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers, self.connections = list(answers), 0
        self.requests: list[tuple[str, bytes]] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with self.sock:
            while self.answers:
                conn, _ = self.sock.accept()
                self.connections += 1
                with conn:
                    while self.answers and self._one(conn):
                        pass

    def _one(self, conn: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        while len(body) < length:
            body += conn.recv(65536)
        self.requests.append((head.decode(), body))
        answer = self.answers.pop(0)
        conn.sendall(answer)
        lowered = answer.lower()  # the connection stays open when the answer says so
        return b"close" not in lowered and (b"content-length" in lowered
                                            or b"chunked" in lowered)


def test_keeps_one_connection_across_length_chunked_and_interim_answers() -> None:
    server = Scripted([
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n",
        b"HTTP/1.1 503 Busy\r\ncontent-length: 2\r\n\r\nno",
    ])
    connection = Connection("127.0.0.1", server.port, timeout_s=5)
    statuses = [connection.post("/hook?a=1", {"X-Test": str(n)}, b'{"n":%d}' % n)
                for n in range(4)]
    connection.close()
    assert statuses == [200, 204, 202, 503]
    assert server.connections == 1
    head, body = server.requests[0]
    assert head.startswith("POST /hook?a=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}" in head and "X-Test: 0" in head
    assert body == b'{"n":0}'


def test_an_answer_that_closes_or_has_no_length_ends_the_connection() -> None:
    server = Scripted([
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\nthe body runs to the end",
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    ])
    connection = Connection("127.0.0.1", server.port, timeout_s=5)
    assert connection.post("/", {}, b"1") == 200
    assert not connection.open
    assert connection.post("/", {}, b"2") == 200
    assert not connection.open
    assert connection.post("/", {}, b"3") == 201
    connection.close()
    assert server.connections == 3


@pytest.mark.parametrize("answer", [
    b"SMTP ready\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nshort",
])
def test_a_broken_answer_is_a_protocol_error(answer: bytes) -> None:
    server = Scripted([answer])
    connection = Connection("127.0.0.1", server.port, timeout_s=2)
    with pytest.raises(ProtocolError):
        try:
            connection.post("/", {}, b"{}")
        finally:
            connection.close()


def test_nobody_listening_is_an_os_error() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    connection = Connection("127.0.0.1", port, timeout_s=2)
    with pytest.raises(OSError):
        connection.post("/", {}, b"{}")
    assert not connection.open
