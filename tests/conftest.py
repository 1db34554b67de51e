"""Shared fixtures: real faces from the registry cache, the shared face sets, live HTTP servers.

Nothing here mocks the model or the database: servers are real uvicorn servers on loopback, the
gallery is a real SQLite file in a temporary folder or a real PostgreSQL database
(``postgres_url``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pgtest import PostgresCluster

from facegate.api.app import create_app
from facegate.config import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED_FACES = Path(os.environ.get("FACEGATE_SHARED_FACES", REPO.parent / "shared" / "faces"))
FACE_CACHE = Path(os.environ.get("FACEGATE_TEST_FACES", REPO / ".cache" / "test-faces"))


@pytest.fixture(scope="session")
def faces() -> Path:
    """Real photos from the face_recognition / insightface sdists (fetched once by pip)."""
    sys.path.insert(0, str(REPO / "scripts"))
    from fetch_test_faces import fetch

    return fetch(FACE_CACHE)


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    """``../shared/faces``; tests that need it skip with the reason when it is absent."""
    if not (SHARED_FACES / "README.md").is_file():
        pytest.skip(f"shared face sets not found at {SHARED_FACES} (CI always has them)")
    return SHARED_FACES


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=data_dir, **overrides)


class LiveServer:
    """A real uvicorn server on a free loopback port, in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [sock]}, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client that fails the test on any 5xx: bad input must never cause one."""
        return httpx.Client(base_url=self.url, timeout=120,
                            event_hooks={"response": [_no_server_error]}, **kwargs)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()


@contextmanager
def serving(data_dir: Path, **overrides: Any) -> Iterator[LiveServer]:
    """A started LiveServer on ``data_dir`` with settings ``overrides``, stopped on the way out:
    a module's server is ``with serving(tmp_path_factory.mktemp(name)) as live: yield live``."""
    server = LiveServer(settings_for(data_dir, **overrides)).start()
    try:
        yield server
    finally:
        server.stop()


def _no_server_error(response: httpx.Response) -> None:
    if response.status_code >= 500:
        response.read()
        raise AssertionError(f"server error {response.status_code} for "
                             f"{response.request.method} {response.request.url}: {response.text}")


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """``start_server(**settings)`` → a running LiveServer on its own SQLite gallery."""
    servers: list[LiveServer] = []

    def start(data_dir: Path | None = None, **overrides: Any) -> LiveServer:
        server = LiveServer(settings_for(data_dir or tmp_path / f"data{len(servers)}",
                                         **overrides)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


@pytest.fixture(scope="module")
def http(live: LiveServer) -> Iterator[httpx.Client]:
    """A client of the module's own ``live`` server (a module-scoped fixture each such module
    defines); it fails the test on any 5xx."""
    with live.client() as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The environment for ``facegate serve`` processes whose tests are not about detection: no CNN
#: fallback detector, so the server does not start (and wait for) the child process that loads
#: it (seconds per server). Their photos are found by the HOG detector either way.
NO_CNN_FALLBACK = {"FACEGATE_DETECTION__FALLBACK_MAX_SIDE": "0"}


def facegate_command() -> list[str]:
    return [sys.executable, "-m", "facegate"]


def spawn_server(data_dir: Path, port: int, *extra: str,
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``facegate serve`` as its own process (for restart and kill tests); waits until ready.
    ``env``: extra environment variables (settings such as ``FACEGATE_STORAGE__HNSW_ABOVE``)."""
    process = subprocess.Popen(
        [*facegate_command(), "serve", "--port", str(port), "--data-dir", str(data_dir), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"facegate serve exited: {process.stderr.read().decode()[-2000:]}"
                               if process.stderr else "facegate serve exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("facegate serve did not become ready")


@contextmanager
def spawned(specs: list[tuple[Path, list[str], dict[str, str]]], *,
            together: bool = False) -> Iterator[list[httpx.Client]]:
    """``facegate serve`` processes (data dir, extra arguments, environment each) and an HTTP
    client for each; ``together``: started at the same moment (e.g. to race migrations)."""
    processes: list[subprocess.Popen[bytes]] = []
    clients: list[httpx.Client] = []
    ports = [free_port() for _ in specs]

    def start(n: int) -> subprocess.Popen[bytes]:
        data_dir, extra, env = specs[n]
        return spawn_server(data_dir, ports[n], *extra, env=env)

    try:
        if together:
            with ThreadPoolExecutor(len(specs)) as pool:
                processes += pool.map(start, range(len(specs)))
        else:
            for n in range(len(specs)):
                processes.append(start(n))
        clients += [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
                    for port in ports]
        yield clients
    finally:
        for client in clients:
            client.close()
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
            if process.stderr:
                process.stderr.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A real PostgreSQL + pgvector server for the whole session (see tests/pgtest.py)."""
    cluster = PostgresCluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres: PostgresCluster) -> Iterator[str]:
    """The URL of a fresh, empty database on the session's PostgreSQL, dropped afterwards."""
    name = postgres.create_database()
    yield postgres.url(name)
    postgres.drop_database(name)


@pytest.fixture(scope="session")
def postgres_migrated(postgres: PostgresCluster) -> str:
    """A database on the session's PostgreSQL that a store has opened (so migrated) and closed:
    the template of ``migrated_postgres_url``."""
    from facegate.storage.base import open_store

    name = postgres.create_database()
    open_store(postgres.url(name)).close()
    return name


@pytest.fixture
def migrated_postgres_url(postgres: PostgresCluster, postgres_migrated: str) -> Iterator[str]:
    """The URL of a fresh database that holds facegate's schema and nothing else (a copy of
    ``postgres_migrated``: the migrations run once per session, not per test), dropped
    afterwards. Migrating an empty database is tested on ``postgres_url``."""
    name = postgres.create_database(template=postgres_migrated)
    yield postgres.url(name)
    postgres.drop_database(name)
