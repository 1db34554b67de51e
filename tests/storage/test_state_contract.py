"""The shared-state part of the GalleryStore contract (liveness sessions, training jobs) on every
backend of ``conftest.STORE_URLS``, plus races between two store objects on one database (two
replicas): a session is used once, one job starts."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from facegate.errors import ConflictError, JobNotFoundError
from facegate.storage.base import GalleryStore, new_id, open_store
from facegate.storage.sqlite import SCHEMA_VERSION
from facegate.storage.state import StoredJob, StoredSession

NOW = 1_790_000_000.123456
LOST = {"code": "JOB_LOST", "message": "gone"}


def session(*, expires_at: float = NOW + 120, used_at: float | None = None) -> StoredSession:
    return StoredSession(id=new_id(), nonce="nönce-" + new_id(), actions=("blink", "turn_left"),
                         created_at=NOW, expires_at=expires_at, used_at=used_at)


def job(*, created_at: float = NOW, status: str = "queued", heartbeat_at: float | None = None
        ) -> StoredJob:
    return StoredJob(id=new_id(), status=status, stage="queued",
                     options={"kind": "svm", "tune": False, "folds": 5, "activate": True,
                              "multiple_faces": None},
                     created_at=created_at, heartbeat_at=heartbeat_at or created_at,
                     owner="replica-a", photos={"total": 0, "enrolled": 0})


def insert(store: GalleryStore, new: StoredJob, *, lost_before: float = 0.0, keep: int = 20
           ) -> None:
    store.insert_job(new, lost_before=lost_before, lost_error=LOST, keep=keep)


def finished(current: StoredJob) -> StoredJob:
    return dataclasses.replace(current, status="succeeded", finished_at=current.created_at + 1)


def test_a_session_round_trips_and_is_used_once(store: GalleryStore) -> None:
    issued = session()
    store.add_liveness_session(issued)
    assert store.get_liveness_session(issued.id) == issued
    assert store.use_liveness_session(issued.id, NOW + 1) is True
    assert store.use_liveness_session(issued.id, NOW + 2) is False
    assert store.get_liveness_session(issued.id) == dataclasses.replace(issued, used_at=NOW + 1)
    assert store.get_liveness_session("nope") is None
    assert store.use_liveness_session("nope", NOW) is False


def test_forgetting_keeps_open_and_recently_used_sessions_and_frames(
        store: GalleryStore) -> None:
    expired, open_, used_late = (session(expires_at=NOW - 10), session(),
                                 session(expires_at=NOW - 10, used_at=NOW + 5))
    for item in (expired, open_, used_late):
        store.add_liveness_session(item)
    assert store.note_liveness_frames(["a", "b", "a"], NOW - 20) == set()
    assert store.note_liveness_frames(["b", "c"], NOW + 1) == {"b"}
    store.forget_liveness(NOW)
    assert store.get_liveness_session(expired.id) is None
    assert store.get_liveness_session(open_.id) == open_
    assert store.get_liveness_session(used_late.id) == used_late
    assert store.note_liveness_frames(["a", "b", "c"], NOW + 2) == {"b", "c"}  # "a" forgotten
    assert store.note_liveness_frames([], NOW) == set()


def test_a_job_round_trips_and_changes_in_place(store: GalleryStore) -> None:
    started = job()
    insert(store, started)
    assert store.get_job(started.id) == started
    refusals = ({"source": "a/ü.jpg", "person": "a", "code": "NO_FACE_FOUND", "message": "x"},)
    running = store.change_job(started.id, lambda j: dataclasses.replace(
        j, status="running", stage="enrolling", done=3, total=9, refusals=refusals,
        photos={"total": 9, "enrolled": 2, "refused": 1}, heartbeat_at=NOW + 7.5))
    assert store.get_job(started.id) == running and running.refusals == refusals
    assert store.change_job(started.id, lambda j: None) == running  # None: left alone

    def fails(_: StoredJob) -> StoredJob:
        raise ConflictError("refused inside the transaction")

    with pytest.raises(ConflictError):
        store.change_job(started.id, fails)
    model = {"id": new_id(), "kind": "svm", "params": {"C": 1.0}, "active": True}
    done = store.change_job(started.id, lambda j: dataclasses.replace(
        finished(j), model=model, cancel_requested=True, error={"code": "X", "message": "y"}))
    assert store.get_job(started.id) == done and done.model == model
    with pytest.raises(JobNotFoundError):
        store.get_job("nope")
    with pytest.raises(JobNotFoundError):
        store.change_job("nope", finished)


def test_one_active_job_a_lost_one_is_failed_and_old_ones_are_dropped(
        store: GalleryStore) -> None:
    first = job(heartbeat_at=NOW + 50)
    insert(store, first)
    with pytest.raises(ConflictError) as refused:
        insert(store, job(created_at=NOW + 60), lost_before=NOW + 40)
    assert refused.value.details == {"job_id": first.id, "status": "queued"}
    second = job(created_at=NOW + 100)
    insert(store, second, lost_before=NOW + 51)  # first's heartbeat is older: it is lost
    lost = store.get_job(first.id)
    assert (lost.status, lost.error, lost.finished_at) == ("failed", LOST, NOW + 100)
    store.change_job(second.id, finished)
    later = [job(created_at=NOW + 200 + n) for n in range(3)]
    for n, item in enumerate(later):
        insert(store, item, keep=2)
        if n < 2:
            store.change_job(item.id, finished)
    assert [j.id for j in store.list_jobs(10)] == [later[2].id, later[1].id]
    assert [j.id for j in store.list_jobs(1)] == [later[2].id]


def _race(count: int, attempt: Callable[[], Any]) -> list[object]:
    barrier, results = threading.Barrier(count), []

    def run() -> None:
        barrier.wait()
        try:
            results.append(attempt())
        except ConflictError as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_replicas_race_for_a_session_and_for_the_training_slot(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}" if kind == "sqlite" else \
        request.getfixturevalue("postgres_url")
    replicas = [open_store(url) for _ in range(2)]
    try:
        issued = session()
        replicas[0].add_liveness_session(issued)
        turns = iter(replicas * 2)
        used = _race(4, lambda: next(turns).use_liveness_session(issued.id, NOW))
        assert sorted(map(str, used)) == ["False", "False", "False", "True"]
        starts = iter(replicas * 2)
        started = _race(4, lambda: insert(next(starts), job()))
        assert sorted(map(str, started)) == ["CONFLICT", "CONFLICT", "CONFLICT", "None"]
        assert len(replicas[1].list_jobs(10)) == 1
    finally:
        for replica in replicas:
            replica.close()


def test_a_version_2_sqlite_file_gains_the_shared_state_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    open_store(f"sqlite:///{path}").close()
    with closing(sqlite3.connect(path)) as raw:
        for table in ("liveness_sessions", "liveness_frames", "training_jobs"):
            raw.execute(f"DROP TABLE {table}")
        raw.execute("PRAGMA user_version = 2")
        raw.commit()
    upgraded = open_store(f"sqlite:///{path}")
    try:
        insert(upgraded, started := job())
        assert upgraded.list_jobs(5) == [started]
    finally:
        upgraded.close()
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
