"""The outbox survives a crash: ``facegate serve`` killed with ``kill -9`` while its webhook
receiver is down delivers every event after a restart, in order, each once. Real processes,
real HTTP, real faces.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
from conftest import free_port, spawn_server
from webhook_receiver import Receiver

from events.outbox_calls import PHOTOS, events_env, identify


def test_a_killed_server_delivers_its_outbox_after_the_restart(
        tmp_path: Path, faces: Path) -> None:
    receiver_port, port = free_port(), free_port()
    env = events_env(f"http://127.0.0.1:{receiver_port}/hook")
    server = spawn_server(tmp_path / "data", port, env=env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            sent = [rid for name in PHOTOS for rid in identify(http, faces, name, "porch")]
            waiting = http.get("/readyz").json()["events"]
            assert waiting["backlog"] == len(sent) > len(PHOTOS)  # group6 has several faces
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        if server.stderr:
            server.stderr.close()
    receiver = Receiver(receiver_port).start()
    restarted = spawn_server(tmp_path / "data", port, env=env)
    try:
        got = receiver.wait_for(len(sent))
        assert [e["request_id"] for e in got] == sent  # every one, in the order written
        assert all(e["camera"] == "porch" for e in got)
        assert len({e["id"] for e in got}) == len(got)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            assert http.get("/readyz").json()["events"]["backlog"] == 0
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)
        if restarted.stderr:
            restarted.stderr.close()
        receiver.stop()
