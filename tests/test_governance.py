"""Consent, erasure receipts, a person's export and nothing left behind, from the user's side:
a live server on a real SQLite data folder, real photos, the ``facegate`` command in its own
process.

- Erasure: obama is enrolled from two photos (with consent), identified once with a webhook
  sink that cannot be reached (so his events wait in the outbox, snapshots and all). Before the
  deletion the scan finds his chip and descriptor bytes in the data folder (the test can fail);
  after it, DELETE answers the receipt, the scan of every file under the data folder (database,
  -wal, -shm, anything else) finds none, no outbox event names him, the audit log keeps the
  receipt without his name, and biden is still identified.
- Export: the zip holds the person's record, consent, enrolment times and chips (the very bytes
  GET …/chip answers), never a descriptor.
- Retention: ``facegate retention run --dry-run`` lists the expired and changes nothing; a run
  killed (SIGKILL) half-way leaves every person whole or gone, and the next run erases the rest,
  one audit row each.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import time
import zipfile
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_inprocess import facegate
from conftest import LiveServer, facegate_command, free_port, serving

ENV = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
DEAD_HOOK = {"webhooks": [{"url": f"http://127.0.0.1:{free_port()}/hook", "snapshot": True}]}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("governance") / "data"


@pytest.fixture(scope="module")
def live(data: Path) -> Iterator[LiveServer]:
    with serving(data, events={"enabled": True, **DEAD_HOOK},
                 governance={"retention_every_s": 0}) as server:
        yield server


def photo(faces: Path, name: str) -> dict[str, tuple[str, bytes]]:
    return {"image": (name, (faces / name).read_bytes())}


def raw(db: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, args).fetchall()


def scan(folder: Path, needles: dict[str, bytes]) -> list[tuple[str, str]]:
    """(file, needle) for every needle found in the bytes of any file under ``folder``."""
    return [(str(path.relative_to(folder)), what) for path in sorted(folder.rglob("*"))
            if path.is_file() for what, needle in needles.items() if needle in path.read_bytes()]


def test_erasure_answers_a_receipt_and_leaves_no_byte_behind(
        http: httpx.Client, data: Path, faces: Path) -> None:
    consent = {"given_at": "2026-11-30T09:15:00+01:00", "purpose": "door access",
               "reference": "form 117"}
    obama = http.post("/v1/identities", json={"name": "obama", "consent": consent}).json()
    assert obama["consent"] == {**consent, "given_at": "2026-11-30T08:15:00+00:00"}
    biden = http.post("/v1/identities", json={"name": "biden"}).json()
    for who, name in ((obama, "obama.jpg"), (obama, "obama2.jpg"), (biden, "biden.jpg")):
        assert http.post(f"/v1/identities/{who['id']}/faces",
                         files=photo(faces, name)).status_code == 201
    seen = http.post("/v1/identify?camera=door", files=photo(faces, "obama3.jpg")).json()
    assert seen["faces"][0]["identity"]["identity_id"] == obama["id"]
    db = data / "gallery.sqlite3"
    stored = raw(db, "SELECT descriptor, chip_jpeg FROM faces WHERE identity_id = ?",
                 (obama["id"],))
    needles = {f"{kind} {n}": blob for n, (descriptor, chip) in enumerate(stored)
               for kind, blob in (("descriptor", bytes(descriptor)),
                                  ("chip", bytes(chip)[len(chip) // 2:len(chip) // 2 + 256]))}
    assert len(needles) == 4
    assert {what for _, what in scan(data, needles)} == set(needles)  # the scan can find them
    naming = raw(db, "SELECT COUNT(*) FROM events WHERE instr(data, ?) > 0", (obama["id"],))
    assert naming[0][0] >= 4  # created, two enrolments, identified (waiting: the hook is down)

    deleted = http.delete(f"/v1/identities/{obama['id']}")
    assert deleted.status_code == 200
    body = deleted.json()
    receipt = body.pop("receipt")
    assert body == {"deleted": obama["id"], "faces_deleted": 2}
    erased_at = datetime.fromisoformat(receipt.pop("erased_at"))
    assert abs(datetime.now(UTC) - erased_at) < timedelta(minutes=1)
    assert receipt == {"identity_id": obama["id"], "samples": 2, "chips": 2,
                       "negative_anchors": 0, "review_items": 0,
                       "outbox_events": naming[0][0], "kept_probes": 0,
                       "actor": {"kind": "anonymous", "id": None, "name": "anonymous"}}

    assert scan(data, needles) == []  # (the -wal is not empty: later writes, none of his)
    left = raw(db, "SELECT type, data FROM events WHERE instr(data, ?) > 0", (obama["id"],))
    assert [kind for kind, _ in left] == ["identity.deleted"]  # the id only: sinks forget him
    assert "obama" not in left[0][1]
    http.get("/v1/audit")  # let the audit writer catch up
    rows = poll_audit(http, obama["id"])
    erasure = [r for r in rows if r["method"] == "DELETE"]
    assert erasure and erasure[0]["details"]["receipt"]["outbox_events"] == naming[0][0]
    assert "obama" not in json.dumps(rows)
    assert http.get(f"/v1/identities/{obama['id']}").status_code == 404
    again = http.post("/v1/identify", files=photo(faces, "biden.jpg")).json()
    assert again["faces"][0]["identity"]["identity_id"] == biden["id"]


def poll_audit(http: httpx.Client, identity_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        rows: list[dict[str, Any]] = http.get(
            "/v1/audit", params={"identity_id": identity_id, "limit": 100}).json()["items"]
        if any(r["method"] == "DELETE" for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_the_export_is_the_persons_own_data(http: httpx.Client, faces: Path,
                                            data: Path) -> None:
    until = (datetime.now(UTC) + timedelta(days=365)).isoformat()
    person = http.post("/v1/identities", json={
        "name": "Zoë Obama", "external_id": "emp-7", "metadata": {"team": "B"},
        "consent": {"purpose": "door access"}, "expires_at": until}).json()
    assert person["consent"]["reference"] is None and person["expires_at"] == until
    for name in ("obama.jpg", "obama2.jpg"):
        http.post(f"/v1/identities/{person['id']}/faces", files=photo(faces, name))
    listed = http.get(f"/v1/identities/{person['id']}/faces").json()["items"]

    answer = http.get(f"/v1/identities/{person['id']}/export")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    assert answer.headers["cache-control"] == "private, no-store"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        record = json.loads(archive.read("person.json"))
        assert sorted(archive.namelist()) == sorted(
            ["person.json", *(f"chips/{f['id']}.jpg" for f in listed)])
        for face in listed:
            assert archive.read(f"chips/{face['id']}.jpg") == http.get(face["chip_url"]).content
    assert record["identity"] | {"consent": None} == {
        "id": person["id"], "name": "Zoë Obama", "external_id": "emp-7",
        "metadata": {"team": "B"}, "created_at": person["created_at"],
        "updated_at": record["identity"]["updated_at"], "consent": None, "expires_at": until}
    assert record["identity"]["consent"]["purpose"] == "door access"
    assert [(f["id"], f["enrolled_at"]) for f in record["faces"]] == [
        (f["id"], f["created_at"]) for f in listed]
    descriptors = raw(data / "gallery.sqlite3", "SELECT descriptor FROM faces WHERE "
                      "identity_id = ?", (person["id"],))
    assert all(bytes(d[0]) not in answer.content for d in descriptors)
    missing = http.get("/v1/identities/nobody/export")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "IDENTITY_NOT_FOUND")
    cleared = http.patch(f"/v1/identities/{person['id']}", json={"expires_at": None}).json()
    assert cleared["expires_at"] is None and cleared["consent"] == person["consent"]
    for refused in ({"consent": {"reference": "x"}}, {"expires_at": "9999-12-31T23:59:59-05:00"},
                    {"expires_at": "tomorrow"}, {"consent": {"purpose": "x", "given": 1}}):
        bad = http.patch(f"/v1/identities/{person['id']}", json=refused)
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "VALIDATION_ERROR")


def test_retention_run_killed_half_way_leaves_every_person_whole_or_gone(
        http: httpx.Client, faces: Path, data: Path) -> None:
    descriptor = http.post("/v1/embed", files=photo(faces, "obama.jpg")).json()["faces"][0][
        "descriptor"]
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    expired = []
    for n in range(60):
        made = http.post("/v1/identities", json={"name": f"visitor {n}",
                                                 "expires_at": past}).json()
        for k in range(2):
            nudged = [v + k * 1e-4 for v in descriptor]
            assert http.post(f"/v1/identities/{made['id']}/faces",
                             json={"descriptor": nudged}).status_code == 201
        expired.append(made["id"])
    kept = http.post("/v1/identities", json={"name": "staff", "expires_at": (
        datetime.now(UTC) + timedelta(days=9)).isoformat()}).json()
    db = data / "gallery.sqlite3"

    planned = facegate("retention", "run", "--dry-run", "--json", "--data-dir", data)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert plan["dry_run"] and sorted(i["identity_id"] for i in plan["identities"]) == sorted(
        expired)
    assert {i["samples"] for i in plan["identities"]} == {2}
    assert raw(db, "SELECT COUNT(*) FROM identities")[0][0] >= 61

    process = subprocess.Popen([*facegate_command(), "retention", "run", "--data-dir",
                                str(data)], env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        total = http.get("/v1/identities", params={"limit": 1}).json()["total"]
        deadline = time.monotonic() + 120
        # watched through the server's own connection (no new SQLite connection per poll)
        while http.get("/v1/identities", params={"limit": 1}).json()["total"] == total \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL  # killed, not finished
    counts = dict(raw(db, "SELECT i.id, (SELECT COUNT(*) FROM faces f WHERE f.identity_id = "
                          "i.id) FROM identities i"))
    survivors = [i for i in expired if i in counts]
    assert 0 < len(survivors) < len(expired), "the kill did not land half-way"
    assert {counts[i] for i in survivors} == {2}  # whole, or gone with every face
    assert raw(db, "SELECT COUNT(*) FROM faces WHERE identity_id NOT IN "
                   "(SELECT id FROM identities)")[0][0] == 0
    assert raw(db, "PRAGMA integrity_check") == [("ok",)]

    finished = facegate("retention", "run", "--data-dir", data)
    assert finished.returncode == 0, finished.stderr
    assert f"erased {len(survivors)} expired identities" in finished.stdout
    ids = {row[0] for row in raw(db, "SELECT id FROM identities")}
    assert not ids & set(expired) and kept["id"] in ids
    audited = raw(db, "SELECT identity_ids, details FROM audit WHERE route = 'retention'")
    assert len(audited) == len(expired) and {
        json.loads(d)["receipt"]["samples"] for _, d in audited} == {2}
    assert http.get(f"/v1/identities/{expired[-1]}").status_code == 404


def test_the_cli_records_consent_and_expiry_and_prints_the_receipt(
        faces: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    enrolled = facegate("enroll", faces / "obama.jpg", "--data-dir", folder)
    assert enrolled.returncode == 0, enrolled.stderr
    given = facegate("people", "consent", "obama", "--purpose", "door access", "--reference",
                     "form 9", "--given-at", "2026-11-30T09:00:00", "--data-dir", folder)
    assert given.returncode == 0, given.stderr
    assert json.loads(given.stdout)["consent"] == {
        "given_at": "2026-11-30T09:00:00+00:00", "purpose": "door access",
        "reference": "form 9"}
    until = facegate("people", "expires", "obama", "--at", "2030-01-01T00:00:00",
                     "--data-dir", folder)
    assert json.loads(until.stdout)["expires_at"] == "2030-01-01T00:00:00+00:00"
    both = facegate("people", "expires", "obama", "--data-dir", folder)
    assert both.returncode == 2 and "exactly one" in both.stdout + both.stderr
    planned = facegate("retention", "run", "--dry-run", "--data-dir", folder)
    assert "would erase 0 expired identities" in planned.stdout
    deleted = facegate("people", "delete", "obama", "--yes", "--data-dir", folder)
    assert deleted.returncode == 0, deleted.stderr
    lines = deleted.stdout.splitlines()
    assert lines[1] == "erasure receipt:" and "  samples: 1" in lines and "  chips: 1" in lines
    assert any(line.startswith("  actor: cli") for line in lines)
    audit = raw(folder / "gallery.sqlite3", "SELECT details FROM audit WHERE route = "
                "'facegate people delete'")
    assert json.loads(audit[0][0])["receipt"]["samples"] == 1 and "obama" not in audit[0][0]
