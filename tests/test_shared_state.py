"""State every replica shares (issue 13): liveness sessions and training jobs live in the store.

Two ``facegate serve`` processes on one real PostgreSQL (no memory in common): a session issued
by A is completed on B with real blink frames and cannot be posted again on A, and frames sent to
B count as replayed on A; a training job started on A is polled on B, holds the gallery's one
training slot on both, and is cancelled from B. On SQLite, a server killed mid-job leaves a job
that the restarted server reports failed (JOB_LOST) instead of forgetting it or blocking training.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import NO_CNN_FALLBACK, free_port, spawn_server, spawned
from liveness_frames import jpeg, video_frames
from pgtest import PostgresCluster
from test_train import poll
from zipcraft import variants, zip_bytes

ACTIVE = ("queued", "running", "cancelling")


@pytest.fixture(scope="module")
def replicas(postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    database = postgres.create_database()
    root = tmp_path_factory.mktemp("replicas")
    specs = [(root / f"replica{n}", ["--storage-url", postgres.url(database)], {})
             for n in (0, 1)]
    try:
        with spawned(specs) as (a, b):
            yield a, b
    finally:
        postgres.drop_database(database)


def _issued_for(http: httpx.Client, actions: list[str], count: int) -> list[dict[str, Any]]:
    """``count`` sessions issued by ``http`` whose random actions happen to be ``actions``
    (clients never choose them; 1 in 24 is, so this asks a few dozen times)."""
    found: list[dict[str, Any]] = []
    for _ in range(2000):
        issued = http.post("/v1/liveness/sessions")
        assert issued.status_code == 201, issued.text
        if issued.json()["actions"] == actions:
            found.append(issued.json())
            if len(found) == count:
                return found
    raise AssertionError(f"no session asked for {actions} in 2000")


def _post(http: httpx.Client, session: dict[str, Any], frames: list[bytes]) -> httpx.Response:
    return http.post(f"/v1/liveness/sessions/{session['id']}/frames",
                     files=[("frames", (f"{i:04d}.jpg", f, "image/jpeg"))
                            for i, f in enumerate(frames)],
                     data={"nonce": session["nonce"], "fps": "15"})


@pytest.mark.shared
def test_a_session_issued_by_a_is_completed_on_b_and_used_once(
        replicas: tuple[httpx.Client, httpx.Client], shared_faces: Path) -> None:
    a, b = replicas
    rgb, _ = video_frames(shared_faces / "blink" / "videos" / "liveportrait_d18.mp4")
    frames = [jpeg(rgb[i]) for i in range(56, 111, 2)]  # opens its mouth, then blinks
    first, second = _issued_for(a, ["smile", "blink"], 2)

    done = _post(b, first, frames)
    assert done.status_code == 200, done.text
    assert done.json()["live"] is True, done.json()["reasons"]
    assert [action["done"] for action in done.json()["actions"]] == [True, True]
    for http in (a, b):
        again = _post(http, first, frames)
        assert (again.status_code, again.json()["error"]["code"]) == \
            (409, "LIVENESS_SESSION_USED")
    replayed = _post(a, second, frames).json()  # B saw these frames: A knows it
    assert replayed["live"] is False
    assert "REPLAYED_FRAMES" in [reason["code"] for reason in replayed["reasons"]]


def _running(http: httpx.Client, job_id: str, *, enrolled: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while (job := http.get(f"/v1/train/{job_id}").json())["photos"]["enrolled"] < enrolled:
        assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
        time.sleep(0.05)
    return dict(job)


def _finished(http: httpx.Client, job_id: str, *, seconds: float = 120) -> dict[str, Any]:
    """The job once it is no longer active; after ``seconds`` as it is then."""
    deadline = time.monotonic() + seconds
    while (job := http.get(f"/v1/train/{job_id}").json())["status"] in ACTIVE:
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    return dict(job)


def test_a_job_started_on_a_is_polled_and_cancelled_on_b(
        replicas: tuple[httpx.Client, httpx.Client], faces: Path, tmp_path: Path) -> None:
    a, b = replicas
    photos = variants(faces, 24, tmp_path / "photos")
    archive = zip_bytes({f"p{i:02d}/{p.name}": p.read_bytes() for i, p in enumerate(photos)})
    started = a.post("/v1/train", files={"archive": ("c.zip", archive)})
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]

    seen_by_b = _running(b, job_id, enrolled=2)
    assert seen_by_b["options"] == {"kind": "svm", "tune": False, "folds": 5, "activate": False}
    for http in (a, b):  # the one training slot is the gallery's, not a server's
        refused = http.post("/v1/train", json={})
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "CONFLICT")
    cancelling = b.delete(f"/v1/train/{job_id}")
    assert cancelling.status_code == 202 and cancelling.json()["status"] == "cancelling"
    job = _finished(b, job_id)
    assert job["status"] == "cancelled" and job["model"] is None, job
    assert 2 <= job["photos"]["enrolled"] < 24
    assert a.get(f"/v1/train/{job_id}").json() == job
    assert [j["id"] for j in a.get("/v1/train").json()["items"]] == [job_id]
    assert b.delete(f"/v1/train/{job_id}").status_code == 409
    trained = poll(b, b.post("/v1/train", json={"kind": "knn"}).json())
    assert trained["status"] == "succeeded", trained
    assert a.get(f"/v1/train/{trained['id']}").json()["model"]["id"] == trained["model"]["id"]


def test_a_job_of_a_killed_server_is_reported_lost_after_a_restart(
        faces: Path, tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    env = {**NO_CNN_FALLBACK, "FACEGATE_SERVER__TRAINING_LOST_AFTER_S": "2"}
    photos = variants(faces, 24, tmp_path / "photos")
    archive = zip_bytes({f"p{i:02d}/{p.name}": p.read_bytes() for i, p in enumerate(photos)})
    server = spawn_server(data, port, env=env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            job_id = http.post("/v1/train", files={"archive": ("c.zip", archive)}).json()["id"]
            _running(http, job_id, enrolled=1)
            _stop(server)
            server = spawn_server(data, port, env=env)
            job = _finished(http, job_id, seconds=2.5)  # the dead server's heartbeat is too old
            assert job["status"] == "failed" and job["error"]["code"] == "JOB_LOST", job
            assert job["finished_at"] and job["photos"]["enrolled"] >= 1
            assert [j["id"] for j in http.get("/v1/train").json()["items"]] == [job_id]
            trained = poll(http, http.post("/v1/train", json={"kind": "knn"}).json())
            assert trained["status"] == "succeeded", trained  # the slot is free again
    finally:
        _stop(server)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.kill()  # SIGKILL: no shutdown, the job's row stays "running"
    server.wait(30)
    if server.stderr:
        server.stderr.close()
