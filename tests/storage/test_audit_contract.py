"""The audit log's part of the store contract, on memory, SQLite and a real PostgreSQL."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from facegate.errors import ValidationError
from facegate.storage.audit import AuditQuery, AuditRecord
from facegate.storage.base import GalleryStore
from facegate.storage.sqlite import SCHEMA_VERSION, SQLiteStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(n: int, *, at: datetime | None = None, **fields: object) -> AuditRecord:
    values: dict[str, object] = {
        "id": f"{n:032x}", "time": at or T0 + timedelta(seconds=n), "actor_kind": "key",
        "actor_id": "k1", "actor_name": "door-cam", "client": "10.0.0.7",
        "request_id": f"req-{n}", "method": "POST", "route": "/v1/identify", "status": 200,
        "error_code": None, "identity_ids": (), "details": {"unknown": 0}}
    values.update(fields)
    return AuditRecord(**values)  # type: ignore[arg-type]


def all_pages(store: GalleryStore, query: AuditQuery, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        items, cursor = store.audit_page(query, limit=limit, cursor=cursor)
        pages.append([r.id for r in items])
        if cursor is None:
            return pages


def test_records_come_back_whole_newest_first(store: GalleryStore) -> None:
    written = [record(1, identity_ids=("a", "b"), details={"unknown": 1, "distance": 0.41}),
               record(2, error_code="NO_FACE_FOUND", status=422, actor_id=None,
                      actor_name=None, actor_kind="anonymous", client=None)]
    store.append_audit(written)
    items, cursor = store.audit_page(AuditQuery())
    assert items == written[::-1] and cursor is None


def test_pages_never_repeat_or_skip_rows_sharing_a_time(store: GalleryStore) -> None:
    store.append_audit([record(n, at=T0 + timedelta(seconds=n // 3)) for n in range(10)])
    pages = all_pages(store, AuditQuery(), limit=4)
    assert [len(p) for p in pages] == [4, 4, 2]
    flat = [i for page in pages for i in page]
    assert flat == [f"{n:032x}" for n in range(9, -1, -1)]


def test_filters_combine(store: GalleryStore) -> None:
    store.append_audit([
        record(1, identity_ids=("alice",)),
        record(2, route="/v1/identities/{identity_id}", method="DELETE",
               identity_ids=("alice",), actor_id="u1", actor_name="ann", actor_kind="user"),
        record(3, status=404, error_code="IDENTITY_NOT_FOUND", identity_ids=("bob",)),
        record(4, actor_kind="anonymous", actor_id=None, actor_name=None)])

    def ids(**query: object) -> list[int]:
        items, _ = store.audit_page(AuditQuery(**query))  # type: ignore[arg-type]
        return sorted(int(r.id, 16) for r in items)

    assert ids(identity_id="alice") == [1, 2]
    assert ids(identity_id="alice", route="/v1/identify") == [1]
    assert ids(actor="ann") == [2] and ids(actor="u1") == [2] and ids(actor="anonymous") == [4]
    assert ids(actor="door-cam") == [1, 3]
    assert ids(method="DELETE") == [2]
    assert ids(ok=False) == [3] and ids(ok=True) == [1, 2, 4]
    assert ids(status=404) == [3] and ids(error_code="IDENTITY_NOT_FOUND") == [3]
    assert ids(since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=4)) == [2, 3]
    assert ids(identity_id="nobody") == []


def test_purge_removes_only_older_rows(store: GalleryStore) -> None:
    store.append_audit([record(n, at=T0 - timedelta(days=100 - n)) for n in range(3)])
    store.append_audit([record(10, at=T0)])
    assert store.purge_audit(T0 - timedelta(days=98)) == 2
    assert [int(r.id, 16) for r in store.audit_page(AuditQuery())[0]] == [10, 2]


@pytest.mark.parametrize("cursor", ["not-a-cursor", "!!!", "YWJj"])
def test_a_malformed_cursor_is_refused(store: GalleryStore, cursor: str) -> None:
    with pytest.raises(ValidationError):
        store.audit_page(AuditQuery(), cursor=cursor)


def test_sqlite_audit_commits_leave_the_gallery_fully_synced(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.db")
    store.append_audit([record(1)])
    assert store.storage_settings()["synchronous"] == 2  # FULL again for gallery writes
    store.close()
    reopened = SQLiteStore(tmp_path / "g.db")
    assert [r.id for r in reopened.audit_page(AuditQuery())[0]] == [record(1).id]
    reopened.close()


def test_sqlite_version_2_file_gains_the_audit_table(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    old = SQLiteStore(path)
    identity = old.create_identity(name="Ada")
    old.close()
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("DROP TABLE audit")
        raw.execute("PRAGMA user_version = 2")
    upgraded = SQLiteStore(path)
    upgraded.append_audit([record(1, identity_ids=(identity.id,))])
    assert upgraded.audit_page(AuditQuery(identity_id=identity.id))[0][0].id == record(1).id
    assert upgraded.get_identity(identity.id).name == "Ada"
    upgraded.close()
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
