"""``facegate migrate-store`` and ``facegate db migrate`` as a user runs them (in-process with
typer's CliRunner, tests/cli_inprocess.py): a real SQLite gallery enrolled from real photos, a
real PostgreSQL + pgvector database."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import psycopg
import pytest
from cli_inprocess import Ran
from cli_inprocess import facegate as run_cli

from facegate.services.store_copy import copy_gallery, gallery_digest
from facegate.storage import pg_schema
from facegate.storage.memory import MemoryStore
from facegate.storage.postgres import PostgresStore


def facegate(*args: object, storage_url: str | None = None) -> Ran:
    return run_cli(*args, env={"FACEGATE_STORAGE__URL": storage_url} if storage_url else None)


def identify(probe: Path, **where: str) -> dict[str, object]:
    """The single face of ``probe`` as ``identify --json`` reports it."""
    args = ("--data-dir", where["data_dir"]) if "data_dir" in where else ()
    result = facegate("identify", probe, "--json", *args, storage_url=where.get("storage_url"))
    assert result.returncode == 0, result.stderr
    (face,) = json.loads(result.stdout)["faces"]
    return dict(face)


@pytest.fixture(scope="module")
def sqlite_gallery(tmp_path_factory: pytest.TempPathFactory, faces: Path) -> Path:
    """A data dir with obama (2 photos) and biden (1), enrolled by the CLI, and an active
    kNN classifier trained on them."""
    root = tmp_path_factory.mktemp("migrate")
    photos = root / "photos"
    photos.mkdir()
    for source, target in [("obama.jpg", "obama_1.jpg"), ("obama2.jpg", "obama_2.jpg"),
                           ("biden.jpg", "biden_1.jpg")]:
        shutil.copy(faces / source, photos / target)
    enrolled = facegate("enroll", photos, "--data-dir", root / "data")
    assert enrolled.returncode == 0, enrolled.stderr
    trained = facegate("train", "--kind", "knn", "--activate", "--data-dir", root / "data")
    assert trained.returncode == 0, trained.stderr
    return root / "data"


def test_migrated_gallery_answers_the_same_probe_the_same_way(
        sqlite_gallery: Path, postgres_url: str, faces: Path) -> None:
    source_url = f"sqlite:///{sqlite_gallery / 'gallery.sqlite3'}"
    copied = facegate("migrate-store", "--from", source_url, "--to", postgres_url)
    assert copied.returncode == 0, copied.stderr
    assert "copied 2 identities, 3 faces, 1 classifiers" in copied.stdout
    assert "verified" in copied.stdout
    assert "sha256 " in copied.stdout

    was = identify(faces / "obama3.jpg", data_dir=str(sqlite_gallery))
    now = identify(faces / "obama3.jpg", storage_url=postgres_url)
    assert now["status"] == was["status"] == "identified"
    assert now["identity"] == was["identity"]  # same id, name, face and distance
    assert now["candidates"] == was["candidates"]
    assert now["identity"]["score"] == was["identity"]["score"]  # ranked by the same classifier

    again = facegate("migrate-store", "--from", source_url, "--to", postgres_url)
    assert again.returncode == 1 and "not empty" in again.stderr
    target = PostgresStore(postgres_url)
    try:
        assert target.counts() == (2, 3)
    finally:
        target.close()


def test_db_migrate_creates_the_schema_once(postgres_url: str) -> None:
    first = facegate("db", "migrate", "--url", postgres_url)
    assert first.returncode == 0, first.stderr
    applied = ", ".join(str(m.version) for m in pg_schema.MIGRATIONS)
    assert f"schema version {pg_schema.LATEST} (applied: {applied})" in first.stdout
    second = facegate("db", "migrate", storage_url=postgres_url)
    assert second.returncode == 0
    assert f"schema version {pg_schema.LATEST} (applied: none pending)" in second.stdout
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone() == (
            len(pg_schema.MIGRATIONS),)


def test_db_migrate_hides_the_password(postgres_url: str) -> None:
    url = postgres_url.replace("postgres:@", "postgres:hunter2-secret@")
    result = facegate("db", "migrate", "--url", url)
    assert result.returncode == 0, result.stderr  # trust auth: any password is accepted
    assert "hunter2" not in result.stdout + result.stderr and "postgres:***@" in result.stdout


def test_the_checksum_sees_every_byte(sqlite_gallery: Path) -> None:
    from facegate.storage.sqlite import SQLiteStore

    source = SQLiteStore(sqlite_gallery / "gallery.sqlite3")
    copy = MemoryStore()
    report = copy_gallery(source, copy)
    assert report.source == report.target == gallery_digest(copy)
    assert (report.source.identities, report.source.faces, report.source.classifiers) == \
        (2, 3, 1)
    (trained,) = copy.list_classifiers()
    assert trained.active
    blob = bytearray(copy.classifier_blob(trained.id))
    blob[-1] ^= 1
    changed_model = MemoryStore()
    copy_gallery(copy, changed_model)
    changed_model.delete_classifier(trained.id)
    changed_model.save_classifier(trained, bytes(blob))
    changed_model.activate_classifier(trained.id)
    assert gallery_digest(changed_model).sha256 != report.source.sha256
    identity = next(i for i in copy.list_identities()[0] if i.name == "biden")
    (sample,) = copy.list_faces(identity.id)
    flipped = bytearray(sample.chip_jpeg)
    flipped[100] ^= 1
    for changed in (dataclasses.replace(sample, chip_jpeg=bytes(flipped)),
                    dataclasses.replace(sample, descriptor=sample.descriptor * 1.0000001)):
        other = MemoryStore()
        copy_gallery(copy, other)
        other.delete_identity(identity.id)
        other.restore(identity, [changed])
        digest = gallery_digest(other)
        assert (digest.identities, digest.faces) == (2, 3)
        assert digest.sha256 != report.source.sha256
    source.close()
