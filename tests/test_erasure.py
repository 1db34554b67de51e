"""A deleted person is gone from everything: over real HTTP, on real photos and a real SQLite
file. Eight people are enrolled (obama, biden and the six faces of a group photo, each also
mirrored), a kNN and an SVM are trained with POST /v1/train, then obama is deleted: no stored
classifier holds his id or any of his descriptors (their arrays, and a byte scan of the database
file, its -wal and an export zip with every npz member decompressed), identify still answers
the others, both classifiers say they changed, and ``secure_delete`` is on. Deleting one face
takes its descriptor out of the kNN; the SVM keeps its weights until the person's last face.
A classifier still holding someone deleted before all this (an older facegate, a crash after a
training) is exported without them and cleaned when a server starts.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from conftest import LiveServer, facegate_command
from PIL import Image, ImageOps
from storage.test_contract import make_sample
from test_train import poll

from facegate.classifier import Classifier
from facegate.services.training import train as fit_and_store
from facegate.storage.sqlite import SQLiteStore

ENV = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=95)
    return out.getvalue()


def photos(faces: Path, http: httpx.Client) -> dict[str, list[bytes]]:
    """Each person's photos: obama's two, biden and each face of group6.jpg (cut out with a
    margin of one face width), the latter each with its mirror image as a second photo."""
    group = (faces / "group6.jpg").read_bytes()
    boxes = [f["box"] for f in http.post("/v1/detect", files={"image": ("g.jpg", group)})
             .json()["faces"]]
    assert len(boxes) == 6
    out = {"obama": [(faces / "obama.jpg").read_bytes(), (faces / "obama2.jpg").read_bytes()]}
    with Image.open(faces / "biden.jpg") as biden:
        out["biden"] = [jpeg(biden), jpeg(ImageOps.mirror(biden))]
    with Image.open(faces / "group6.jpg") as photo:
        for n, box in enumerate(boxes):
            width = box["right"] - box["left"]
            face = photo.crop((max(0, box["left"] - width), max(0, box["top"] - width),
                               min(photo.width, box["right"] + width),
                               min(photo.height, box["bottom"] + width)))
            out[f"guest{n}"] = [jpeg(face), jpeg(ImageOps.mirror(face))]
    return out


def enrol(http: httpx.Client, people: dict[str, list[bytes]]) -> dict[str, str]:
    ids = {}
    for name, images in people.items():
        ids[name] = http.post("/v1/identities", json={"name": name}).json()["id"]
        for n, image in enumerate(images):
            added = http.post(f"/v1/identities/{ids[name]}/faces",
                              files={"image": (f"{n}.jpg", image)})
            assert added.status_code == 201, (name, n, added.text)
    return ids


def train(http: httpx.Client, kind: str, *, activate: bool) -> dict[str, Any]:
    job = poll(http, http.post("/v1/train", json={"kind": kind, "activate": activate}).json())
    assert job["status"] == "succeeded", job
    model: dict[str, Any] = job["model"]
    return model


def stored(db: Path) -> tuple[dict[str, Classifier], dict[str, tuple[bytes, bytes]]]:
    """Every stored classifier, loaded from its blob, and every face's (descriptor, chip)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as raw:
        models = {row[0]: Classifier.from_bytes(row[1], json.loads(row[2]), row[3])
                  for row in raw.execute("SELECT id, kind, params, blob FROM classifiers")}
        faces = {row[0]: (bytes(row[1]), bytes(row[2]))
                 for row in raw.execute("SELECT id, descriptor, chip_jpeg FROM faces")}
    return models, faces


def holds(model: Classifier, descriptor: bytes) -> bool:
    probe = np.frombuffer(descriptor, dtype="<f4")
    return bool(np.any(np.all(model.arrays["samples"] == probe, axis=1)))


def needles(identity_id: str, faces: list[tuple[bytes, bytes]]) -> dict[str, bytes]:
    """What must be found nowhere: the id (ASCII, and UCS-4 as numpy stores str arrays), each
    descriptor (raw and base64, as exports write it) and a slice from inside each chip."""
    out = {"id": identity_id.encode(), "id (utf-32)": identity_id.encode("utf-32-le")}
    for n, (descriptor, chip) in enumerate(faces):
        out[f"descriptor {n}"] = descriptor
        out[f"descriptor {n} (base64)"] = base64.b64encode(descriptor)
        out[f"chip {n}"] = chip[len(chip) // 2:len(chip) // 2 + 256]
    return out


def members(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """``data`` and, when it is a zip (an export, an npz), every member, recursively."""
    yield name, data
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for item in archive.namelist():
                yield from members(f"{name}/{item}", archive.read(item))


def found(paths: list[Path], wanted: dict[str, bytes]) -> list[tuple[str, str]]:
    return [(where, what) for path in paths if path.exists()
            for where, data in members(path.name, path.read_bytes())
            for what, needle in wanted.items() if needle in data]


def test_deleting_a_person_erases_them_from_classifiers_files_and_exports(
        start_server: Any, faces: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    # The audit log keeps the opaque id of whom each request touched, the deletion's own row
    # included, by design (docs/audit.md: no name, image or descriptor, which
    # tests/api/test_audit.py scans for); off here, so the scan below sees the gallery alone.
    server: LiveServer = start_server(data, audit={"enabled": False})
    db = data / "gallery.sqlite3"
    with server.client() as http:
        ids = enrol(http, photos(faces, http))
        knn = train(http, "knn", activate=True)
        svm = train(http, "svm", activate=False)
        assert (knn["identities"], knn["samples"], svm["samples"]) == (8, 16, 16)
        obama3 = {"image": ("o.jpg", (faces / "obama3.jpg").read_bytes())}
        before = http.post("/v1/identify", files=obama3).json()["faces"][0]
        assert before["identity"]["name"] == "obama" and "score" in before["identity"]
        models, samples = stored(db)
        theirs = [samples[f["id"]] for f in
                  http.get(f"/v1/identities/{ids['obama']}/faces").json()["items"]]
        assert len(theirs) == 2 and all(holds(models[knn["id"]], d) for d, _ in theirs)

        wal = db.with_name(db.name + "-wal")
        assert found([wal], needles(ids["obama"], theirs)) != []  # what the erasure must remove
        deleted = http.delete(f"/v1/identities/{ids['obama']}")
        assert (deleted.json()["deleted"], deleted.json()["faces_deleted"]) == (ids["obama"], 2)

        # (a) no classifier holds his id or a descriptor of his; nor does any byte on disk
        models, samples = stored(db)
        assert set(models) == {knn["id"], svm["id"]}
        for model in models.values():
            assert ids["obama"] not in model.known and len(model.known) == 7
        assert not any(holds(models[knn["id"]], d) for d, _ in theirs)
        assert models[knn["id"]].size == 14 and models[svm["id"]].size == 7
        wanted = needles(ids["obama"], theirs)
        files = [db, wal, db.with_name(db.name + "-shm")]
        assert found(files, wanted) == []
        # (d) the store's connection zeroes what it frees, and the log was truncated
        settings = server.app.state.facegate.store.storage_settings()
        assert (settings["secure_delete"], settings["journal_mode"]) == (1, "wal")
        assert wal.stat().st_size == 0
        # (b) identify still answers, from the others; (c) both classifiers say they changed
        after = http.post("/v1/identify", files=obama3).json()
        assert after["classifier"]["id"] == knn["id"] and after["faces"][0]["candidates"]
        assert ids["obama"] not in {c["identity_id"] for c in after["faces"][0]["candidates"]}
        assert after["faces"][0]["status"] == "unknown"
        biden = http.post("/v1/identify", files={"image": (
            "b.jpg", (faces / "biden.jpg").read_bytes())}).json()["faces"][0]
        assert biden["status"] == "identified" and biden["identity"]["name"] == "biden"
        for kind, model, fitted in (("knn", knn, 16), ("svm", svm, 16)):
            info = http.get(f"/v1/models/{model['id']}").json()
            assert (info["identities"], info["samples"], info["changed_since_fit"]) == \
                (7, fitted - 2, True), kind
            assert (info["metrics"]["erased_identities"], info["metrics"]["erased_samples"]) \
                == (1, 2)
            assert info["metrics"]["accuracy"] == model["metrics"]["accuracy"]  # the fit's

        exported = tmp_path / "export.zip"
        run = subprocess.run([*facegate_command(), "export", str(exported), "--data-dir",
                              str(data)], capture_output=True, text=True, env=ENV, check=False,
                             timeout=300)
        assert run.returncode == 0, run.stderr
        assert {n for n, _ in members("x", exported.read_bytes())} >= {
            f"x/classifiers/{knn['id']}.npz/samples.npy",
            f"x/classifiers/{svm['id']}.npz/labels.npy"}
        assert found([exported], wanted) == []
        assert found([exported], {"a guest": ids["guest0"].encode("utf-32-le")}) != []


def test_deleting_a_face_takes_its_descriptor_out_of_the_knn(
        start_server: Any, faces: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    server: LiveServer = start_server(data)
    db = data / "gallery.sqlite3"
    with server.client() as http:
        people = photos(faces, http)
        ids = enrol(http, {name: people[name] for name in ("biden", "guest0", "guest1")})
        knn = train(http, "knn", activate=True)
        svm = train(http, "svm", activate=False)
        models, samples = stored(db)
        weights = models[svm["id"]].arrays["weights"]
        first, last = http.get(f"/v1/identities/{ids['biden']}/faces").json()["items"]

        assert http.delete(f"/v1/identities/{ids['biden']}/faces/{first['id']}").status_code \
            == 200
        models, _ = stored(db)
        assert not holds(models[knn["id"]], samples[first["id"]][0])
        assert holds(models[knn["id"]], samples[last["id"]][0])
        assert ids["biden"] in models[svm["id"]].known  # its weights stay as fitted
        assert np.array_equal(models[svm["id"]].arrays["weights"], weights)
        its_bytes = {k: v for k, v in needles("-", [samples[first["id"]]]).items()
                     if not k.startswith("id")}
        assert found([db, db.with_name(db.name + "-wal")], its_bytes) == []
        for model, left in ((knn, 5), (svm, 5)):
            info = http.get(f"/v1/models/{model['id']}").json()
            assert (info["identities"], info["samples"], info["changed_since_fit"]) == \
                (3, left, True)
            assert info["metrics"]["erased_samples"] == 1
        answer = http.post("/v1/identify", files={"image": (
            "b.jpg", (faces / "biden.jpg").read_bytes())}).json()["faces"][0]
        assert answer["identity"]["name"] == "biden" and "score" in answer["identity"]

        http.delete(f"/v1/identities/{ids['biden']}/faces/{last['id']}")  # his last face
        models, _ = stored(db)
        assert models[svm["id"]].known == models[knn["id"]].known == \
            {ids["guest0"], ids["guest1"]}
        assert http.get(f"/v1/identities/{ids['biden']}").json()["face_count"] == 0
        assert http.post(f"/v1/models/{svm['id']}/activate").status_code == 200
        guest = http.post("/v1/identify", files={"image": ("g.jpg", people["guest1"][0])}) \
            .json()
        assert guest["classifier"]["id"] == svm["id"]
        assert guest["faces"][0]["identity"]["name"] == "guest1"


def test_a_person_left_in_a_classifier_is_taken_out_by_export_and_at_start(
        start_server: Any, tmp_path: Path) -> None:
    """A gallery whose classifier still holds someone deleted (by an older facegate, or a crash
    after a training): export leaves them out, and a server takes them out when it starts."""
    data = tmp_path / "data"
    store = SQLiteStore(data / "gallery.sqlite3")
    ids = [store.create_identity(name=f"p{n}").id for n in range(3)]
    for n, identity_id in enumerate(ids):
        for s in range(2):
            store.add_face(make_sample(identity_id, seed=10 * n + s))
    knn = fit_and_store(store, kind="knn", folds=2)
    store.activate_classifier(knn.id)
    store.delete_identity(ids[0])  # no rewrite: as before erasure reached the classifiers
    store.close()

    exported = tmp_path / "export.zip"
    run = subprocess.run([*facegate_command(), "export", str(exported), "--data-dir",
                          str(data)], capture_output=True, text=True, env=ENV, check=False,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert found([exported], {"id": ids[0].encode("utf-32-le")}) == []
    assert found([exported], {"id": ids[1].encode("utf-32-le")}) != []
    server: LiveServer = start_server(data)
    with server.client() as http:
        info = http.get(f"/v1/models/{knn.id}").json()
    assert (info["identities"], info["samples"], info["changed_since_fit"]) == (2, 4, True)
    models, _ = stored(data / "gallery.sqlite3")
    assert models[knn.id].known == set(ids[1:])
