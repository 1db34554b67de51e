"""What only the SQLite backend promises: a durable WAL file with foreign keys, a change marker
that sees other connections' writes, a guarded schema version and an integrity check."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from facegate.errors import StoreError, ValidationError
from facegate.storage.base import open_store
from facegate.storage.sqlite import SCHEMA_VERSION, SQLiteStore

from .test_contract import comparable, make_sample


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "g.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(db_path)
    yield opened
    opened.close()


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_open_store_picks_sqlite_and_creates_folders(db_path: Path) -> None:
    opened = open_store(f"sqlite:///{db_path}")
    try:
        assert isinstance(opened, SQLiteStore) and db_path.is_file()
    finally:
        opened.close()


@pytest.mark.parametrize("url", ["mysql://db/g", "sqlite://relative.db", "", "memory:/", "g.db"])
def test_open_store_rejects_unknown_scheme(url: str) -> None:
    with pytest.raises(ValidationError):
        open_store(url)


def test_gallery_persists_across_close_and_reopen(db_path: Path) -> None:
    first = SQLiteStore(db_path)
    identity = first.create_identity(name="Ada", external_id="emp-1", metadata={"k": [1]})
    sample = make_sample(identity.id, 7)
    first.add_face(sample)
    first.close()
    reopened = SQLiteStore(db_path)
    try:
        assert reopened.get_identity(identity.id).external_id == "emp-1"
        assert reopened.get_identity(identity.id).face_count == 1
        assert comparable(reopened.get_face(identity.id, sample.id)) == comparable(sample)
        assert reopened.counts() == (1, 1)
    finally:
        reopened.close()


def test_wal_journal_and_cascading_foreign_keys(store: SQLiteStore, db_path: Path) -> None:
    identity = store.create_identity(name="Ada")
    for seed in (1, 2):
        store.add_face(make_sample(identity.id, seed))
    with closing(_raw(db_path)) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 2
    store.delete_identity(identity.id)
    with closing(_raw(db_path)) as raw:  # the database itself removed the samples
        assert raw.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 0
    assert store.integrity_problems() == []


def test_change_marker_moves_only_for_other_writers(store: SQLiteStore, db_path: Path) -> None:
    other = SQLiteStore(db_path)
    try:
        marker = store.change_marker()
        identity = store.create_identity(name="own write")
        store.add_face(make_sample(identity.id, 1))
        assert store.change_marker() == marker
        other.get_identity(identity.id)
        assert store.change_marker() == marker
        other.create_identity(name="someone else's write")
        moved = store.change_marker()
        assert moved != marker
        assert store.change_marker() == moved
        other.delete_identity(identity.id)
        assert store.change_marker() != moved
    finally:
        other.close()


def test_newer_schema_is_refused_and_left_alone(db_path: Path) -> None:
    SQLiteStore(db_path).close()
    with closing(_raw(db_path)) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="upgrade facegate"):
        SQLiteStore(db_path)
    with closing(_raw(db_path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


def test_a_file_that_is_not_a_database_is_a_store_error(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not an SQLite database, just text " * 100)
    with pytest.raises(StoreError):
        SQLiteStore(db_path)


def test_integrity_problems_empty_when_healthy_and_reports_orphans(
    store: SQLiteStore, db_path: Path
) -> None:
    identity = store.create_identity(name="Ada")
    store.add_face(make_sample(identity.id, 1))
    assert store.integrity_problems() == []
    with closing(_raw(db_path)) as raw:  # foreign keys are off on a bare connection
        raw.execute("INSERT INTO faces (id, identity_id, descriptor, model, chip_jpeg, "
                    "image_sha256, created_at) VALUES ('orphan', 'gone', ?, 'm', x'', 's', 't')",
                    (np.zeros(128, dtype="<f4").tobytes(),))
    problems = store.integrity_problems()
    assert len(problems) == 1 and "foreign key" in problems[0]
