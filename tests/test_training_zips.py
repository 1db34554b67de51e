"""Zips of labelled photos as a user sends them: ``POST /v1/train`` on a live server and
``facegate enroll x.zip`` — faulty members refused one by one, caps on entries and declared
uncompressed bytes, cancel, the uploads deleted on every path, and no person without a face.
Real face photos, real zips (faults made byte by byte in zipfile's format), real SQLite.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_inprocess import facegate
from conftest import LiveServer, facegate_command, settings_for
from test_train import poll
from zipcraft import flip_byte, lie, sizes, tiny_png, variants, zip_bytes

from facegate.config import ImageSettings

ENV = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
UPLOADS = "training-uploads"
ACTIVE = ("queued", "running", "cancelling")
BROKEN = ("obama/crc.jpg", "biden/short.jpg", "biden/long.jpg", "kit/truncated.jpg",
          "../evil.jpg", "/etc/evil2.jpg")


def faulty_zip(faces: Path) -> bytes:
    """obama/a.jpg and biden/a.jpg are good. The BROKEN ones: a flipped byte (bad CRC), a
    directory that says 5000 bytes too few / too many, half the compressed data, and two names
    that climb out of the archive. tiny/t.png is a real 8x8 image: no face, refused with some
    code, and the run goes on."""
    obama, obama2, obama3, biden = (
        (faces / n).read_bytes() for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"))
    data = zip_bytes({"obama/a.jpg": obama, "biden/a.jpg": biden, "obama/crc.jpg": obama2,
                      "biden/short.jpg": obama2, "biden/long.jpg": obama3,
                      "kit/truncated.jpg": obama3, "../evil.jpg": obama, "/etc/evil2.jpg": biden,
                      "tiny/t.png": tiny_png()}, stored=("obama/crc.jpg",))
    data = flip_byte(data, "obama/crc.jpg")
    data = lie(data, "biden/short.jpg", file_size=sizes(data, "biden/short.jpg")[1] - 5000)
    data = lie(data, "biden/long.jpg", file_size=sizes(data, "biden/long.jpg")[1] + 5000)
    return lie(data, "kit/truncated.jpg",
               compress_size=sizes(data, "kit/truncated.jpg")[0] // 2)


def bomb_directory(faces: Path) -> bytes:
    """Three small members whose directory declares almost 4 GiB each (a zip bomb's
    directory: over the default 4 GiB of declared uncompressed bytes in all)."""
    data = zip_bytes({f"p{i}/a.jpg": (faces / "biden.jpg").read_bytes() for i in range(3)})
    for i in range(3):
        data = lie(data, f"p{i}/a.jpg", file_size=0xFFFF_FFF0)
    return data


def assert_no_empty_identity(http: httpx.Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = http.get("/v1/identities", params={"limit": 1000}).json()[
        "items"]
    assert all(i["face_count"] >= 1 for i in items), items
    return items


def uploads(server: LiveServer) -> list[str]:
    folder = server.settings.data_dir / UPLOADS
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_faulty_members_are_refused_one_by_one_and_caps_refuse_the_zip(
        start_server: Any, faces: Path) -> None:
    server: LiveServer = start_server(image=ImageSettings(
        max_archive_entries=12, max_archive_uncompressed_bytes=60_000_000))
    with server.client() as http:
        started = http.post("/v1/train", files={"archive": ("f.zip", faulty_zip(faces))},
                            data={"kind": "knn"})
        assert started.status_code == 202, started.text
        job = poll(http, started.json())
        assert job["status"] == "succeeded", job  # the good photos trained a classifier
        assert job["photos"] == {"total": 9, "enrolled": 2, "refused": 7, "duplicate": 0}
        codes = {r["source"]: r["code"] for r in job["refusals"]}
        assert {s: codes[s] for s in BROKEN} == dict.fromkeys(BROKEN, "INVALID_ARCHIVE_MEMBER")
        assert set(codes) == {*BROKEN, "tiny/t.png"}
        messages = {r["source"]: r["message"] for r in job["refusals"]}
        assert "CRC" in messages["obama/crc.jpg"] and "'..'" in messages["../evil.jpg"]
        assert "absolute" in messages["/etc/evil2.jpg"]
        assert "declares" in messages["biden/long.jpg"]
        people = assert_no_empty_identity(http)
        assert sorted((i["name"], i["face_count"]) for i in people) == [("biden", 1),
                                                                       ("obama", 1)]
        assert uploads(server) == []  # deleted after success

        too_many = zip_bytes({f"p{i}_1.jpg": b"x" for i in range(13)})
        refused = http.post("/v1/train", files={"archive": ("m.zip", too_many)})
        assert (refused.status_code, refused.json()["error"]["code"]) == \
            (413, "ARCHIVE_TOO_LARGE"), refused.text
        assert refused.json()["error"]["details"] == {"entries": 13, "limit_entries": 12}
        # a real zip bomb: 8 MB of zeros per member, 64 MB declared in a 70 kB zip
        bomb = zip_bytes({f"p{i}/z.jpg": b"\0" * 8_000_000 for i in range(8)})
        assert len(bomb) < 100_000
        for archive in (bomb, bomb_directory(faces)):
            refused = http.post("/v1/train", files={"archive": ("b.zip", archive)})
            assert (refused.status_code, refused.json()["error"]["code"]) == \
                (413, "ARCHIVE_TOO_LARGE"), refused.text
            assert "uncompressed" in refused.json()["error"]["message"]
        assert uploads(server) == []  # refused uploads are deleted at once
        assert len(http.get("/v1/train").json()["items"]) == 1  # no job was started


@pytest.fixture(scope="module")
def json_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for every refused JSON body (none of them starts a job)."""
    server = LiveServer(settings_for(tmp_path_factory.mktemp("json-bodies"))).start()
    yield server
    server.stop()


@pytest.mark.parametrize("body", [b"[]", b"1", b'"x"', b"null", b"true", b"[1, 2]",
                                  b"[" * 5000 + b"]" * 5000, b'{"a": ' * 6000 + b"1" +
                                  b"}" * 6000, b"{", b"\xff"])
def test_train_json_bodies_that_are_not_an_object_are_422(json_server: LiveServer,
                                                          body: bytes) -> None:
    with json_server.client() as http:
        answer = http.post("/v1/train", content=body,
                           headers={"content-type": "application/json"})
        assert (answer.status_code, answer.json()["error"]["code"]) == (422, "VALIDATION_ERROR")


def finished(http: httpx.Client, job_id: str, *, seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while (job := http.get(f"/v1/train/{job_id}").json())["status"] in ACTIVE:
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    return job


def test_a_running_job_can_be_cancelled(start_server: Any, faces: Path, tmp_path: Path) -> None:
    photos = variants(faces, 24, tmp_path / "photos")
    archive = zip_bytes({f"p{i:02d}/{p.name}": p.read_bytes() for i, p in enumerate(photos)})
    server: LiveServer = start_server()
    with server.client() as http:
        job = http.post("/v1/train", files={"archive": ("c.zip", archive)}).json()
        deadline = time.monotonic() + 120
        while job["photos"]["enrolled"] < 2:
            assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
            time.sleep(0.05)
            job = http.get(f"/v1/train/{job['id']}").json()
        cancelling = http.delete(f"/v1/train/{job['id']}")
        assert cancelling.status_code == 202 and cancelling.json()["status"] == "cancelling"
        assert http.post("/v1/train", json={}).status_code == 409  # still holds the slot
        job = finished(http, job["id"])
        assert job["status"] == "cancelled" and job["model"] is None, job
        assert job["finished_at"] and job["stage"] == "enrolling"
        enrolled = job["photos"]["enrolled"]
        assert 2 <= enrolled < 24 and job["progress"]["done"] == enrolled
        time.sleep(1.0)  # nothing more is enrolled after the job says cancelled
        people = assert_no_empty_identity(http)
        assert len(people) == enrolled  # one person per photo; what was enrolled stays
        assert http.get("/v1/models").json()["items"] == []  # and no classifier was fitted
        assert uploads(server) == []  # deleted after cancel

        again = http.delete(f"/v1/train/{job['id']}")
        assert (again.status_code, again.json()["error"]["code"]) == (409, "CONFLICT")
        assert again.json()["error"]["details"] == {"status": "cancelled"}
        missing = http.delete("/v1/train/no-such-job")
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "JOB_NOT_FOUND")
        trained = poll(http, http.post("/v1/train", json={"kind": "knn"}).json())
        assert trained["status"] == "succeeded" and trained["model"]["samples"] == enrolled


def test_uploads_are_deleted_on_failure_and_leftovers_at_start(
        start_server: Any, faces: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / UPLOADS).mkdir(parents=True)
    (data / UPLOADS / "left-by-a-killed-server.zip").write_bytes(b"PK face photos")
    with (data / UPLOADS / "a-live-job.zip").open("wb") as held:  # another server's, running
        fcntl.flock(held, fcntl.LOCK_EX)
        server: LiveServer = start_server(data_dir=data)
        assert uploads(server) == ["a-live-job.zip"]
    with server.client() as http:
        nothing = zip_bytes({"obama/t.png": tiny_png()})  # no face: the gallery stays empty
        job = poll(http, http.post("/v1/train", files={"archive": ("n.zip", nothing)}).json())
        assert job["status"] == "failed" and job["error"]["code"] == "VALIDATION_ERROR", job
        assert uploads(server) == ["a-live-job.zip"]  # the failed job's own zip is gone
        assert_no_empty_identity(http)


def identities(data: Path) -> list[tuple[str, int]]:
    """``(name, face count)`` of every identity, read from the SQLite file itself."""
    with sqlite3.connect(data / "gallery.sqlite3") as db:
        rows = db.execute("SELECT i.name, COUNT(f.id) FROM identities i LEFT JOIN faces f "
                          "ON f.identity_id = i.id GROUP BY i.id ORDER BY i.name").fetchall()
    return [(str(name), int(count)) for name, count in rows]


def test_cli_enroll_refuses_faulty_members_and_oversized_zips(faces: Path,
                                                             tmp_path: Path) -> None:
    archive = tmp_path / "faulty.zip"
    archive.write_bytes(faulty_zip(faces))
    data = tmp_path / "data"
    result = facegate("enroll", archive, "--data-dir", data)
    assert result.returncode == 1, result.stderr  # refusals, but the run finished
    assert "9 photos: 2 enrolled, 7 refused" in result.stdout, result.stdout + result.stderr
    for member in BROKEN:
        assert f"{archive}:{member}: INVALID_ARCHIVE_MEMBER:" in result.stderr, result.stderr
    assert f"{archive}:tiny/t.png: " in result.stderr and "Traceback" not in result.stderr
    assert identities(data) == [("biden", 1), ("obama", 1)]

    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(bomb_directory(faces))
    refused = facegate("enroll", bomb, "--data-dir", data)
    assert refused.returncode == 2 and "ARCHIVE_TOO_LARGE" in refused.stderr, refused.stderr
    assert "uncompressed" in refused.stderr and "photos:" not in refused.stdout
    many = tmp_path / "many.zip"
    many.write_bytes(zip_bytes({f"p{i}_1.jpg": b"x" for i in range(6)}))
    refused = facegate("enroll", many, "--data-dir", data,
                       env={"FACEGATE_IMAGE__MAX_ARCHIVE_ENTRIES": "5"})
    assert refused.returncode == 2 and "ARCHIVE_TOO_LARGE" in refused.stderr, refused.stderr
    assert "6 entries, over the limit of 5" in refused.stderr
    assert identities(data) == [("biden", 1), ("obama", 1)]


def test_cli_enroll_dir_refuses_a_photo_the_pipeline_fails_on_and_goes_on(
        faces: Path, tmp_path: Path) -> None:
    folder = tmp_path / "people"
    (folder / "tiny").mkdir(parents=True)
    (folder / "tiny" / "t.png").write_bytes(tiny_png(6))
    (folder / "tiny" / "u.png").write_bytes(tiny_png(11))
    (folder / "zz_obama").mkdir()
    (folder / "zz_obama" / "a.jpg").write_bytes((faces / "obama.jpg").read_bytes())
    result = facegate("enroll", folder, "--data-dir", tmp_path / "data")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "3 photos: 1 enrolled, 2 refused" in result.stdout, result.stdout + result.stderr
    assert identities(tmp_path / "data") == [("zz_obama", 1)]


def test_killing_a_bulk_enrol_never_leaves_a_person_without_a_face(
        faces: Path, tmp_path: Path) -> None:
    """Every photo is a new person: creating them and enrolling their face is one transaction,
    so a kill at any moment (here mid-way through a photo) leaves only people with a face."""
    folder = tmp_path / "people"
    for i, photo in enumerate(variants(faces, 12, tmp_path / "photos")):
        (folder / f"person{i:02d}").mkdir(parents=True)
        photo.rename(folder / f"person{i:02d}" / "a.jpg")
    data = tmp_path / "data"
    for delay in (0.05, 0.15, 0.3):
        process = subprocess.Popen([*facegate_command(), "enroll", str(folder), "--data-dir",
                                    str(data)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=ENV)
        watchdog = threading.Timer(180, process.kill)
        watchdog.start()
        assert process.stderr is not None and process.stdout is not None
        for line in process.stderr:
            if line.startswith("enrolled"):
                time.sleep(delay)  # into the next photo's model work
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=30)
        watchdog.cancel()
        process.stdout.close()
        process.stderr.close()
        people = identities(data)
        assert people and all(count == 1 for _, count in people), people
    rerun = facegate("enroll", folder, "--data-dir", data, "--quiet")
    assert rerun.returncode == 0, rerun.stderr
    assert identities(data) == [(f"person{i:02d}", 1) for i in range(12)]
    assert json.loads(facegate("people", "list", "--json", "--data-dir", data).stdout)[
        "total"] == 12
