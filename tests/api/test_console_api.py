"""The REST routes the web console calls, over real HTTP on one live server: changing one's own
password, the server status, and bulk import as a job on real face photos (zips of per-person
folders and of ``name_N.jpg`` files), with its per-file report as JSON and CSV."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from access_server import ADMIN_PASSWORD, BOOT, access_server, admin, sign_in
from conftest import LiveServer
from zipcraft import tiny_png, zip_bytes


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = access_server(tmp_path_factory.mktemp("console-api"))
    yield server
    server.stop()


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def test_a_user_changes_their_own_password(http: httpx.Client) -> None:
    old, new = "viewer-password-1", "a brand new passphrase"
    made = admin(http, "POST", "/v1/users",
                 json={"username": "vera", "password": old, "role": "viewer"})
    assert made.status_code == 201, made.text
    here, elsewhere = sign_in(http, "vera", old), sign_in(http, "vera", old)
    wrong = refused(http.post("/v1/auth/password", headers=here, json={
        "current_password": "not it at all", "new_password": new}), 401, "UNAUTHORIZED")
    login_wrong = refused(http.post("/v1/auth/login", json={
        "username": "vera", "password": "nope"}), 401, "UNAUTHORIZED")
    assert wrong["message"] == login_wrong["message"]
    short = refused(http.post("/v1/auth/password", headers=here, json={
        "current_password": old, "new_password": "short"}), 422, "VALIDATION_ERROR")
    assert short["details"]["min_length"] == 12
    refused(http.post("/v1/auth/password", headers={"Cookie": here["Cookie"]}, json={
        "current_password": old, "new_password": new}), 403, "CSRF_FAILED")
    refused(admin(http, "POST", "/v1/auth/password", json={
        "current_password": old, "new_password": new}), 401, "UNAUTHORIZED")

    changed = http.post("/v1/auth/password", headers=here,
                        json={"current_password": old, "new_password": new})
    assert changed.status_code == 200 and changed.json() == {"changed": True}, changed.text
    assert http.get("/v1/auth/me", headers=here).json()["name"] == "vera"  # this one goes on
    refused(http.get("/v1/auth/me", headers=elsewhere), 401, "UNAUTHORIZED")
    refused(http.post("/v1/auth/login", json={"username": "vera", "password": old}),
            401, "UNAUTHORIZED")
    sign_in(http, "vera", new)


def finished(http: httpx.Client, job: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    seen = [job["done"]]
    while job["status"] in ("queued", "running", "cancelling"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = http.get(f"/v1/imports/{job['id']}", headers=headers).json()
        seen.append(job["done"])
    assert seen == sorted(seen), seen  # progress only goes up
    return job


def test_bulk_import_of_a_zip_reports_every_file(http: httpx.Client, faces: Path) -> None:
    """Per-person folders; a file with no face, one with six, a duplicate and a bad member
    each get the code the faces route gives; the report comes as JSON and as CSV; a second
    import of ``name_N.jpg`` files with create_missing off refuses the unknown person."""
    photo = {n: (faces / n).read_bytes() for n in ("obama.jpg", "obama2.jpg", "biden.jpg",
                                                   "group6.jpg")}
    archive = zip_bytes({"people/obama/1.jpg": photo["obama.jpg"],
                         "people/obama/2.jpg": photo["obama2.jpg"],
                         "people/obama/again.jpg": photo["obama.jpg"],
                         "people/biden/1.jpg": photo["biden.jpg"],
                         "people/crowd/g.jpg": photo["group6.jpg"],
                         "people/nobody/t.png": tiny_png(), "people/notes.txt": b"skip me"})
    session = sign_in(http, "admin", ADMIN_PASSWORD)
    refused(http.post("/v1/imports", headers=session, json={}), 415, "UNSUPPORTED_MEDIA_TYPE")
    refused(http.post("/v1/imports", headers=session, files={"x": ("a", b"1")}), 422,
            "VALIDATION_ERROR")
    refused(http.post("/v1/imports", headers=session, files={"archive": ("a.zip", b"no zip")}),
            400, "INVALID_ARCHIVE")
    refused(http.post("/v1/imports", headers=session, files={"archive": ("a.zip", archive)},
                      data={"multiple_faces": "all"}), 422, "VALIDATION_ERROR")
    started = http.post("/v1/imports", headers=session, files={"archive": ("a.zip", archive)})
    assert started.status_code == 202, started.text
    assert started.headers["location"] == f"/v1/imports/{started.json()['id']}"
    job = finished(http, started.json(), session)
    assert job["status"] == "finished" and job["done"] == job["total"] == 6, job
    outcomes = {r["file"]: r["outcome"] for r in job["report"]}
    assert outcomes == {"people/obama/1.jpg": "enrolled", "people/obama/2.jpg": "enrolled",
                        "people/obama/again.jpg": "DUPLICATE_FACE",
                        "people/biden/1.jpg": "enrolled", "people/crowd/g.jpg": "MULTIPLE_FACES",
                        "people/nobody/t.png": "NO_FACE_FOUND"}, job["report"]
    assert job["counts"] == {"total": 6, "enrolled": 3, "duplicate": 1, "refused": 2}
    enrolled = next(r for r in job["report"] if r["file"] == "people/biden/1.jpg")
    faces_of = http.get(f"/v1/identities/{enrolled['identity_id']}/faces", headers=session)
    assert [f["id"] for f in faces_of.json()["items"]] == [enrolled["face_id"]]
    # the same photo through the faces route gives the same code
    same = http.post(f"/v1/identities/{enrolled['identity_id']}/faces", headers=session,
                     files={"image": ("g.jpg", photo["group6.jpg"])})
    refused(same, 422, "MULTIPLE_FACES")

    report = http.get(f"/v1/imports/{job['id']}/report.csv", headers=session)
    assert report.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert {r["file"]: r["outcome"] for r in rows} == outcomes
    refused(http.delete(f"/v1/imports/{job['id']}", headers=session), 409, "CONFLICT")
    refused(http.get("/v1/imports/nope", headers=session), 404, "JOB_NOT_FOUND")
    assert job["id"] not in [j["id"] for j in admin(http, "GET", "/v1/train").json()["items"]]

    flat = zip_bytes({"biden_1.jpg": photo["obama2.jpg"], "stranger_1.jpg": photo["obama.jpg"],
                      "stranger_2.jpg": photo["biden.jpg"]})
    second = finished(http, admin(http, "POST", "/v1/imports", files={
        "archive": ("f.zip", flat)}, data={"create_missing": "false",
                                          "multiple_faces": "largest"}).json(), {"X-API-Key": BOOT})
    assert {r["file"]: r["outcome"] for r in second["report"]} == {
        "biden_1.jpg": "enrolled", "stranger_1.jpg": "IDENTITY_NOT_FOUND",
        "stranger_2.jpg": "IDENTITY_NOT_FOUND"}, second
    listed = http.get("/v1/imports", headers=session).json()["items"]
    assert [j["id"] for j in listed] == [second["id"], job["id"]]


def test_status_names_models_licences_storage_and_queue(
        http: httpx.Client, live: LiveServer) -> None:
    session = sign_in(http, "admin", ADMIN_PASSWORD)
    body = http.get("/v1/status", headers=session).json()
    assert body["version"] and body["uptime_s"] >= 0
    assert body["storage"] == {"backend": "sqlite", "location": live.settings.storage_url}
    listed = admin(http, "GET", "/v1/identities").json()
    assert body["gallery"]["identities"] == listed["total"]
    models = {m["key"]: m for m in body["models"]}
    blazeface = {"blazeface_full", "blazeface_back", "blazeface_short"}
    assert set(models) == {"resnet", "hog", "mmod", "shape5", "mesh", "iris", "shape68",
                           *blazeface}
    assert models["shape68"]["commercial_use"] is False and "300-W" in models["shape68"]["licence"]
    assert not models["shape68"]["in_use"]  # only with models.landmarks68 = dlib
    assert models["resnet"]["licence"] == models["shape5"]["licence"] == "CC0-1.0"
    assert models["mesh"]["licence"] == models["iris"]["licence"] == "Apache-2.0"
    assert all(models[k]["in_use"] for k in ("resnet", "shape5", "mesh", "iris", *blazeface))
    assert all(m["commercial_use"] for m in models.values() if m["in_use"])
    assert body["onnx"]["embedder"] == "onnx"
    assert "CPUExecutionProvider" in body["onnx"]["providers"]
    assert body["workers"]["busy"] == 0 and body["workers"]["waiting"] == 0
    assert body["workers"]["workers"] == live.settings.server.workers
    assert body["matching"]["threshold"] == live.settings.matching.threshold
    assert body["matching"]["threshold_source"] == "default"
    assert body["index"]["search"] == "exact"
    admin(http, "POST", "/v1/identify", files={"image": ("x.png", tiny_png())})
    assert http.get("/v1/status", headers=session).json()["index"]["in_sync"] is True
    admin(http, "POST", "/v1/users", json={"username": "val", "password": "val-password-1",
                                           "role": "viewer"})
    viewer = sign_in(http, "val", "val-password-1")
    refused(http.get("/v1/status", headers=viewer), 403, "FORBIDDEN")


def test_status_never_shows_a_storage_password() -> None:
    from facegate.services.status import storage_view

    view = storage_view("postgresql://face:s3cret@db.example:5432/gallery?password=x&sslmode=y")
    assert view == {"backend": "postgres", "location": "postgresql://face@db.example:5432/gallery"}
    assert "s3cret" not in str(view)
