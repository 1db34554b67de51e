"""The gallery survives restarts and kills, and every process sees the others' writes.

Real ``facegate`` processes (server and CLI) on one real SQLite file; kills are SIGKILL, so
nothing gets a chance to clean up.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import NO_CNN_FALLBACK, facegate_command, free_port, spawn_server
from PIL import Image

from facegate.storage.sqlite import SQLiteStore

ENV = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
PHOTO_COUNT = 16  # enough to be killed mid-way: 3-4 are in when the kill comes


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory, faces: Path) -> Path:
    """``PHOTO_COUNT`` different files (``obama_N.jpg``, ``biden_N.jpg``): the cached photos
    re-encoded at slightly different sizes, so every SHA-256 differs."""
    folder = tmp_path_factory.mktemp("many")
    bases = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"]
    for i in range(PHOTO_COUNT):
        base = bases[i % len(bases)]
        with Image.open(faces / base) as image:
            width = 400 + 4 * i
            small = image.convert("RGB").resize((width, round(image.height * width / image.width)))
            small.save(folder / f"{base[:5]}_{i}.jpg", quality=88)
    return folder


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Path], tuple[subprocess.Popen[bytes], str]]]:
    """``serve(data_dir)`` → a ``facegate serve`` process and its URL; killed at the end."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        processes.append(spawn_server(data_dir, port, env=NO_CNN_FALLBACK))
        return processes[-1], f"http://127.0.0.1:{port}"

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        if process.stderr:
            process.stderr.close()


def consistent_gallery(data_dir: Path) -> dict[str, str]:
    """Check the gallery file as a fresh process finds it; ``{face id: image sha256}``."""
    path = data_dir / "gallery.sqlite3"
    with sqlite3.connect(path) as db:
        orphans = db.execute("SELECT COUNT(*) FROM faces WHERE identity_id NOT IN "
                             "(SELECT id FROM identities)").fetchone()[0]
    store = SQLiteStore(path)
    try:
        assert store.integrity_problems() == []
        assert orphans == 0
        identities, total = store.list_identities(limit=1000)
        samples = {i.id: store.list_faces(i.id) for i in identities}
        assert all(i.face_count == len(samples[i.id]) for i in identities)
        assert store.counts() == (total, sum(len(s) for s in samples.values()))
        descriptors = store.descriptors()
        assert sorted((f, i) for f, i, _ in descriptors) == sorted(
            (s.id, s.identity_id) for group in samples.values() for s in group)
        assert all(vector.shape == (128,) for _, _, vector in descriptors)
        return {s.id: s.image_sha256 for group in samples.values() for s in group}
    finally:
        store.close()


def identify(url: str, photo: Path) -> dict[str, object]:
    response = httpx.post(f"{url}/v1/identify", timeout=120,
                          files={"image": (photo.name, photo.read_bytes())})
    assert response.status_code == 200, response.text
    face: dict[str, object] = response.json()["faces"][0]
    return face


def enrol_over_http(url: str, name: str, photo: Path) -> str:
    with httpx.Client(base_url=url, timeout=120) as http:
        identity = http.post("/v1/identities", json={"name": name})
        assert identity.status_code == 201, identity.text
        added = http.post(f"/v1/identities/{identity.json()['id']}/faces",
                          files={"image": (photo.name, photo.read_bytes())})
        assert added.status_code == 201, added.text
        return str(identity.json()["id"])


def number(photo: Path) -> int:
    return int(photo.stem.rsplit("_", 1)[1])


def named(face: dict[str, object]) -> str | None:
    identity = face["identity"]
    return identity["name"] if isinstance(identity, dict) else None


def test_a_restarted_server_still_knows_who_was_enrolled(
        serve: Callable[[Path], tuple[subprocess.Popen[bytes], str]], tmp_path: Path,
        faces: Path) -> None:
    data = tmp_path / "data"
    first, url = serve(data)
    enrol_over_http(url, "obama", faces / "obama.jpg")
    first.terminate()
    assert first.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises what it caught

    _, url = serve(data)
    assert named(identify(url, faces / "obama2.jpg")) == "obama"
    assert named(identify(url, faces / "biden.jpg")) is None


def test_killing_a_bulk_enrol_leaves_a_consistent_gallery(photos: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    command = [*facegate_command(), "enroll", str(photos), "--data-dir", str(data)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=ENV)
    watchdog = threading.Timer(180, process.kill)
    watchdog.start()
    assert process.stderr is not None
    reported = 0
    for line in process.stderr:
        reported += line.startswith("enrolled")
        if reported == 3:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=30)
    watchdog.cancel()
    assert process.returncode == -signal.SIGKILL  # killed mid-way, not finished
    assert process.stdout and process.stderr
    process.stdout.close()
    process.stderr.close()

    before = consistent_gallery(data)
    assert 3 <= len(before) < PHOTO_COUNT

    rerun = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300,
                           check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert (f"{PHOTO_COUNT} photos: {PHOTO_COUNT - len(before)} enrolled, 0 refused, "
            f"{len(before)} already enrolled; gallery: 2 identities, {PHOTO_COUNT} faces"
            in rerun.stdout), rerun.stdout
    duplicates = re.findall(r"^refused\s+\S+\s+(.+): DUPLICATE_FACE:", rerun.stderr, re.M)
    assert {hashlib.sha256(Path(source).read_bytes()).hexdigest() for source in duplicates} \
        == set(before.values())  # exactly the photos that were in before the kill
    assert len(consistent_gallery(data)) == PHOTO_COUNT


def test_killing_the_server_during_enrolment_loses_no_acknowledged_face(
        serve: Callable[[Path], tuple[subprocess.Popen[bytes], str]], photos: Path,
        tmp_path: Path, faces: Path) -> None:
    data = tmp_path / "data"
    server, url = serve(data)
    with httpx.Client(base_url=url, timeout=30) as http:
        ids = {name: http.post("/v1/identities", json={"name": name}).json()["id"]
               for name in ("obama", "biden")}
    acknowledged: list[str] = []
    refused: list[str] = []

    def enrol_all() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for photo in sorted(photos.iterdir(), key=number):  # obama, obama, obama, biden…
                try:
                    response = http.post(f"/v1/identities/{ids[photo.name[:5]]}/faces",
                                         files={"image": (photo.name, photo.read_bytes())})
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code == 201:
                    acknowledged.append(response.json()["face"]["id"])
                else:
                    refused.append(f"{photo.name}: {response.status_code} {response.text}")

    sender = threading.Thread(target=enrol_all)
    sender.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < 4 and sender.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=30)
    sender.join(timeout=120)
    assert not refused
    assert 4 <= len(acknowledged) < PHOTO_COUNT

    stored = consistent_gallery(data)
    assert set(acknowledged) <= set(stored)  # an answered 201 is on disk

    _, url = serve(data)
    assert named(identify(url, faces / "obama2.jpg")) == "obama"
    listed = httpx.get(f"{url}/v1/identities", timeout=30).json()
    assert sum(i["face_count"] for i in listed["items"]) == len(stored)


def test_the_server_sees_what_another_process_enrols_and_deletes(
        serve: Callable[[Path], tuple[subprocess.Popen[bytes], str]], tmp_path: Path,
        faces: Path) -> None:
    data = tmp_path / "data"
    _, url = serve(data)
    empty = identify(url, faces / "obama2.jpg")
    assert empty["status"] == "unknown" and empty["candidates"] == []

    cli = [*facegate_command()]
    enrolled = subprocess.run([*cli, "enroll", str(faces / "obama.jpg"), "--data-dir", str(data)],
                              capture_output=True, text=True, env=ENV, timeout=300, check=False)
    assert enrolled.returncode == 0, enrolled.stderr
    assert named(identify(url, faces / "obama2.jpg")) == "obama"

    deleted = subprocess.run([*cli, "people", "delete", "obama", "--yes", "--data-dir", str(data)],
                             capture_output=True, text=True, env=ENV, timeout=300, check=False)
    assert deleted.returncode == 0, deleted.stderr
    gone = identify(url, faces / "obama2.jpg")
    assert gone["status"] == "unknown" and gone["candidates"] == []
