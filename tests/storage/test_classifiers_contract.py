"""The trained-classifier part of the GalleryStore contract, on every backend of
``conftest.STORE_URLS`` (PostgreSQL: a fresh database per test), plus what only SQLite
promises: classifiers survive a reopen, and a version-1 gallery file gains the table."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from facegate.domain import ClassifierInfo
from facegate.errors import ClassifierNotFoundError, ConflictError
from facegate.storage.base import GalleryStore, new_id
from facegate.storage.sqlite import SCHEMA_VERSION, SQLiteStore

WHEN = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)


def make_info(*, created_at: datetime = WHEN, kind: str = "svm", active: bool = False,
              classifier_id: str | None = None) -> ClassifierInfo:
    return ClassifierInfo(
        id=classifier_id or new_id(), kind=kind,
        params={"C": 10.0, "kernel": "rbf", "nested": {"ü": [1, 2.5, None, True]}},
        metrics={"accuracy": 0.987654321, "folds": 5, "per_class": {"a": 1.0}},
        created_at=created_at, identities=42, samples=317, active=active)


def _blob(seed: int) -> bytes:
    return bytes([0, 255, 10, 13, 0]) + os.urandom(4096 + seed)


def _active_ids(store: GalleryStore) -> list[str]:
    return [info.id for info in store.list_classifiers() if info.active]


def test_save_get_blob_round_trip(store: GalleryStore) -> None:
    info, blob = make_info(active=True), _blob(1)  # saved inactive whatever info says
    store.save_classifier(info, blob)
    got = store.get_classifier(info.id)
    assert got == make_info(classifier_id=info.id, active=False)
    assert got.params == info.params and got.metrics == info.metrics
    assert got.created_at == WHEN and got.created_at.tzinfo is not None
    assert got.created_at.microsecond == 123456
    blob_back = store.classifier_blob(info.id)
    assert type(blob_back) is bytes and blob_back == blob
    assert store.active_classifier() is None


def test_list_is_newest_first_then_by_id_without_blobs(store: GalleryStore) -> None:
    times = [WHEN - timedelta(microseconds=1), WHEN + timedelta(days=3), WHEN,
             WHEN.replace(microsecond=0)]
    infos = [make_info(created_at=t) for t in times]
    tied = [make_info(created_at=WHEN, classifier_id=f"{c}" * 32) for c in "fa"]
    for n, info in enumerate([*infos, *tied]):
        store.save_classifier(info, _blob(n))
    listed = store.list_classifiers()
    expected = sorted([*infos, *tied], key=lambda i: i.id)
    expected.sort(key=lambda i: i.created_at, reverse=True)
    assert [i.id for i in listed] == [i.id for i in expected]
    assert listed == expected and not any(i.active for i in listed)


def test_saving_a_taken_id_is_a_conflict(store: GalleryStore) -> None:
    info = make_info()
    store.save_classifier(info, b"first")
    with pytest.raises(ConflictError):
        store.save_classifier(make_info(classifier_id=info.id, kind="knn"), b"second")
    assert store.get_classifier(info.id).kind == "svm"
    assert store.classifier_blob(info.id) == b"first"


def test_activate_one_then_another_keeps_one_active(store: GalleryStore) -> None:
    a, b, c = make_info(), make_info(), make_info()
    for info in (a, b, c):
        store.save_classifier(info, b"x")
    store.activate_classifier(a.id)
    assert store.active_classifier() == make_info(classifier_id=a.id, active=True)
    assert store.get_classifier(a.id).active and _active_ids(store) == [a.id]
    store.activate_classifier(b.id)
    assert _active_ids(store) == [b.id] and not store.get_classifier(a.id).active
    active = store.active_classifier()
    assert active is not None and active.id == b.id and active.active
    store.activate_classifier(b.id)  # again: still just that one
    assert _active_ids(store) == [b.id]


def test_activate_none_leaves_none_active(store: GalleryStore) -> None:
    info = make_info()
    store.save_classifier(info, b"x")
    store.activate_classifier(None)
    assert store.active_classifier() is None
    store.activate_classifier(info.id)
    store.activate_classifier(None)
    assert store.active_classifier() is None and _active_ids(store) == []


def test_activating_an_unknown_id_raises_and_keeps_the_active_one(store: GalleryStore) -> None:
    info = make_info()
    store.save_classifier(info, b"x")
    store.activate_classifier(info.id)
    with pytest.raises(ClassifierNotFoundError, match="no classifier with id 'nope'"):
        store.activate_classifier("nope")
    active = store.active_classifier()
    assert active is not None and active.id == info.id and _active_ids(store) == [info.id]


def test_deleting_the_active_one_leaves_none_active(store: GalleryStore) -> None:
    a, b = make_info(), make_info()
    store.save_classifier(a, b"a")
    store.save_classifier(b, b"b")
    store.activate_classifier(a.id)
    store.delete_classifier(a.id)
    assert store.active_classifier() is None
    assert [i.id for i in store.list_classifiers()] == [b.id]
    with pytest.raises(ClassifierNotFoundError):
        store.get_classifier(a.id)
    with pytest.raises(ClassifierNotFoundError):
        store.classifier_blob(a.id)
    store.activate_classifier(b.id)  # the slot is free again
    store.delete_classifier(b.id)  # and deleting an inactive one touches nothing else
    assert store.list_classifiers() == [] and store.active_classifier() is None


def test_unknown_classifier_is_not_found(store: GalleryStore) -> None:
    store.save_classifier(make_info(), b"x")
    for call in (store.get_classifier, store.classifier_blob, store.delete_classifier):
        with pytest.raises(ClassifierNotFoundError, match="no classifier with id"):
            call(new_id())
    assert len(store.list_classifiers()) == 1


def test_classifiers_do_not_touch_the_gallery(store: GalleryStore) -> None:
    store.save_classifier(make_info(), b"x")
    assert store.counts() == (0, 0) and store.descriptors() == []


# SQLite only
def test_sqlite_classifiers_persist_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    first = SQLiteStore(path)
    a, b, blob = make_info(), make_info(created_at=WHEN + timedelta(seconds=1)), _blob(3)
    first.save_classifier(a, blob)
    first.save_classifier(b, b"b")
    first.activate_classifier(a.id)
    first.close()
    reopened = SQLiteStore(path)
    try:
        assert [i.id for i in reopened.list_classifiers()] == [b.id, a.id]
        assert reopened.get_classifier(a.id) == make_info(classifier_id=a.id, active=True)
        assert reopened.classifier_blob(a.id) == blob
        active = reopened.active_classifier()
        assert active is not None and active.id == a.id
    finally:
        reopened.close()


def test_sqlite_version_1_file_gains_the_classifiers_table(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    old = SQLiteStore(path)
    identity = old.create_identity(name="Ada")
    old.close()
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("DROP TABLE classifiers")
        raw.execute("PRAGMA user_version = 1")
    upgraded = SQLiteStore(path)
    try:
        assert upgraded.get_identity(identity.id).name == "Ada"
        assert upgraded.list_classifiers() == []
        info = make_info()
        upgraded.save_classifier(info, b"x")
        upgraded.activate_classifier(info.id)
        assert upgraded.get_classifier(info.id).active
    finally:
        upgraded.close()
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3


def test_sqlite_allows_at_most_one_active_row(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    store = SQLiteStore(path)
    a, b = make_info(), make_info()
    store.save_classifier(a, b"a")
    store.save_classifier(b, b"b")
    store.activate_classifier(a.id)
    store.close()
    with closing(sqlite3.connect(path, isolation_level=None)) as raw, \
            pytest.raises(sqlite3.IntegrityError):
        raw.execute("UPDATE classifiers SET active = 1 WHERE id = ?", (b.id,))
