"""``facegate export`` / ``facegate import``: a whole gallery moved as one file, or nothing."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from cli_inprocess import facegate

from facegate.storage.sqlite import SQLiteStore


def snapshot(data_dir: Path) -> list[tuple[object, ...]]:
    """Everything the gallery holds, identity by identity, in a comparable form."""
    store = SQLiteStore(data_dir / "gallery.sqlite3")
    try:
        identities, _ = store.list_identities(limit=1000)
        return [
            (i.id, i.name, i.external_id, i.metadata, i.created_at, i.face_count,
             [(f.id, f.image_sha256, f.descriptor.tobytes(), f.chip_jpeg, f.detection_score,
               f.box, f.model, f.created_at) for f in store.list_faces(i.id)])
            for i in identities
        ]
    finally:
        store.close()


def counts(data_dir: Path) -> tuple[int, int]:
    store = SQLiteStore(data_dir / "gallery.sqlite3")
    try:
        assert store.integrity_problems() == []
        return store.counts()
    finally:
        store.close()


def rewrite(source: Path, target: Path, *, drop: str = "", change: dict[str, bytes] | None = None
            ) -> Path:
    """A copy of an export zip without member ``drop`` and with some members' bytes replaced."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            if item.filename != drop:
                new.writestr(item, (change or {}).get(item.filename, old.read(item)))
    return target


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory, faces: Path) -> tuple[Path, Path]:
    """``(source data dir, export file)``: obama (2 photos) and biden (1) with an active kNN
    classifier, exported."""
    root = tmp_path_factory.mktemp("transfer")
    photos = root / "photos"
    photos.mkdir()
    for source, target in [("obama.jpg", "obama_1.jpg"), ("obama2.jpg", "obama_2.jpg"),
                           ("biden.jpg", "biden_1.jpg")]:
        shutil.copy(faces / source, photos / target)
    enrolled = facegate("enroll", photos, "--data-dir", root / "source")
    assert enrolled.returncode == 0, enrolled.stderr
    trained = facegate("train", "--kind", "knn", "--activate", "--data-dir", root / "source")
    assert trained.returncode == 0, trained.stderr
    exported = facegate("export", root / "gallery.zip", "--data-dir", root / "source")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == f"exported 2 identities, 3 faces to {root / 'gallery.zip'}\n"
    return root / "source", root / "gallery.zip"


def test_an_import_into_an_empty_folder_answers_exactly_as_the_source(
        export: tuple[Path, Path], tmp_path: Path, faces: Path) -> None:
    source, file = export
    target = tmp_path / "target"
    imported = facegate("import", file, "--data-dir", target)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == f"imported 2 identities, 3 faces from {file}\n"

    before, after = snapshot(source), snapshot(target)
    assert [(i[1], i[5]) for i in after] == [("biden", 1), ("obama", 2)]
    assert after == before  # same ids, names, times, descriptors (bit for bit) and chips
    models = [json.loads(facegate("models", "list", "--json", "--data-dir", d).stdout)["items"]
              for d in (source, target)]
    assert models[0] == models[1] and [m["active"] for m in models[1]] == [True]

    answers = []
    for data_dir in (source, target):
        probe = facegate("identify", faces / "obama3.jpg", "--json", "--data-dir", data_dir)
        assert probe.returncode == 0, probe.stderr
        answers.append(json.loads(probe.stdout)["faces"])
    (was,), (now,) = answers
    assert now["status"] == was["status"] == "identified"
    assert [c["name"] for c in now["candidates"]] == [c["name"] for c in was["candidates"]] \
        == ["obama", "biden"]
    for new, old in zip(now["candidates"], was["candidates"], strict=True):
        assert new["identity_id"] == old["identity_id"] and new["face_id"] == old["face_id"]
        assert new["distance"] == pytest.approx(old["distance"], abs=1e-6)


def test_a_damaged_export_is_refused(export: tuple[Path, Path], tmp_path: Path) -> None:
    _, file = export
    with zipfile.ZipFile(file) as archive:
        body = archive.read("gallery.jsonl")
    assert b'"name": "biden"' in body
    damaged = rewrite(file, tmp_path / "damaged.zip",
                      change={"gallery.jsonl": body.replace(b'"biden"', b'"bidem"')})
    result = facegate("import", damaged, "--data-dir", tmp_path / "data")
    assert result.returncode == 1
    assert "checksum mismatch" in result.stderr and "Traceback" not in result.stderr
    assert counts(tmp_path / "data") == (0, 0)


def test_a_damaged_classifier_is_refused_with_nothing_imported(
        export: tuple[Path, Path], tmp_path: Path) -> None:
    _, file = export
    with zipfile.ZipFile(file) as archive:
        (member,) = [n for n in archive.namelist() if n.startswith("classifiers/")]
        blob = bytearray(archive.read(member))
    blob[-1] ^= 1
    damaged = rewrite(file, tmp_path / "damaged.zip", change={member: bytes(blob)})
    result = facegate("import", damaged, "--data-dir", tmp_path / "data")
    assert result.returncode == 1 and "checksum mismatch" in result.stderr
    assert counts(tmp_path / "data") == (0, 0)


@pytest.mark.parametrize("kind", ["photo", "zip-without-manifest"])
def test_a_file_that_is_not_an_export_is_refused(
        kind: str, export: tuple[Path, Path], tmp_path: Path, faces: Path) -> None:
    if kind == "photo":
        file = faces / "obama.jpg"
        message = f"{file} is not a facegate export (not a zip file)"
    else:
        file = rewrite(export[1], tmp_path / "other.zip", drop="manifest.json")
        message = "not a facegate export: manifest.json or gallery.jsonl missing"
    result = facegate("import", file, "--data-dir", tmp_path / "data")
    assert result.returncode == 1
    assert f"VALIDATION_ERROR: {message}" in result.stderr.replace("\n", "")
    assert counts(tmp_path / "data") == (0, 0)


def test_importing_twice_is_refused_without_partial_writes(
        export: tuple[Path, Path], tmp_path: Path) -> None:
    _, file = export
    data = tmp_path / "data"
    assert facegate("import", file, "--data-dir", data).returncode == 0
    again = facegate("import", file, "--data-dir", data)
    assert again.returncode == 1
    assert "CONFLICT" in again.stderr and "nothing was imported" in again.stderr
    assert counts(data) == (2, 3)

    # Only the *second* identity of the export is still there: a one-by-one import would
    # restore the first before tripping over the second, and leave it behind.
    store = SQLiteStore(data / "gallery.sqlite3")
    (first, second), _ = store.list_identities()
    assert (first.name, second.name) == ("biden", "obama")
    store.delete_identity(first.id)
    store.close()
    partial = facegate("import", file, "--data-dir", data)
    assert partial.returncode == 1 and "CONFLICT" in partial.stderr
    assert counts(data) == (1, 2)


def test_an_export_that_breaks_half_way_leaves_nothing_behind(
        export: tuple[Path, Path], tmp_path: Path) -> None:
    _, file = export
    with zipfile.ZipFile(file) as archive:
        records = [json.loads(line) for line in archive.read("gallery.jsonl").splitlines()]
    last_chip = f"chips/{records[-1]['faces'][-1]['id']}.jpg"  # the checksum does not cover it
    broken = rewrite(file, tmp_path / "broken.zip", drop=last_chip)
    result = facegate("import", broken, "--data-dir", tmp_path / "data")
    assert result.returncode == 1
    assert "damaged" in result.stderr and "Traceback" not in result.stderr
    assert counts(tmp_path / "data") == (0, 0)
