"""The server's face work in worker processes (``server.isolation = process``; threads are
the default): same answers as threads, a dead worker replaced without failing the request, no
worker left behind when the server is killed."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, free_port, spawn_server


def _descriptor(server: LiveServer, faces: Path) -> list[float]:
    with server.client() as http:
        response = http.post("/v1/embed",
                             files={"image": ("o.jpg", (faces / "obama.jpg").read_bytes())})
    assert response.status_code == 200, response.text
    descriptor: list[float] = response.json()["faces"][0]["descriptor"]
    return descriptor


def test_worker_processes_answer_like_threads_and_a_dead_one_is_replaced(
    start_server: Callable[..., LiveServer], faces: Path
) -> None:
    """One process-isolated server for both (its two workers each load every model)."""
    in_processes = start_server(server={"isolation": "process"})
    in_threads = start_server()
    workers = in_processes.app.state.facegate.workers
    assert workers is not None and len(workers.pids()) == 2
    assert in_threads.app.state.facegate.workers is None
    assert _descriptor(in_processes, faces) == _descriptor(in_threads, faces)

    # A worker killed under the server: the broken pool is replaced, the photo read again.
    before = workers.pids()
    os.kill(before[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(before[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _descriptor(in_processes, faces) == _descriptor(in_threads, faces)
    after = workers.pids()
    assert len(after) >= 1 and before[0] not in after


def test_killing_the_server_takes_its_workers_along(
    tmp_path: Path, faces: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_SERVER__ISOLATION", "process")
    port = free_port()
    server = spawn_server(tmp_path / "data", port)
    try:
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/detect",
                            files={"image": ("o.jpg", (faces / "obama.jpg").read_bytes())})
        assert answer.status_code == 200
        children = _children(server.pid)
        assert len(children) >= 2  # the two face workers (and multiprocessing's tracker)
    finally:
        server.kill()
        server.wait()
        if server.stderr is not None:
            server.stderr.close()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)]


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
