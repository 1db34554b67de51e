"""Kept probes and negative anchors (``FeedbackStore``) on every backend of
``conftest.STORE_URLS`` (memory, SQLite, PostgreSQL), plus two replicas on one PostgreSQL
database: feedback given to one replica finds the probe another replica kept."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from facegate.errors import AnchorNotFoundError
from facegate.storage.base import GalleryStore, new_id, open_store
from facegate.storage.feedback import KeptProbe, MemoryFeedback, NegativeAnchor
from facegate.storage.sqlite import SCHEMA_VERSION

NOW = 1_790_000_000.25


def vector(seed: int) -> np.typing.NDArray[np.float32]:
    return np.random.default_rng(seed).normal(0, 0.1, 128).astype(np.float32)


def probe(request_id: str, index: int = 0, *, created: float = NOW, ttl: float = 900.0,
          identity_id: str | None = "person-1") -> KeptProbe:
    return KeptProbe(request_id=request_id, face_index=index, descriptor=vector(index + 7),
                     identity_id=identity_id, score=0.55, size_px=120, created_at=created,
                     expires_at=created + ttl)


def test_kept_probes_come_back_until_they_expire(store: GalleryStore) -> None:
    store.keep_probes([probe("r1", 0), probe("r1", 1, identity_id=None)], now=NOW,
                      max_rows=100)
    kept = store.kept_probes("r1", now=NOW + 1)
    assert [(p.face_index, p.identity_id, p.size_px, p.score) for p in kept] == [
        (0, "person-1", 120, 0.55), (1, None, 120, 0.55)]
    assert np.array_equal(kept[0].descriptor, vector(7))  # float32 bytes round-trip exactly
    assert kept[0].descriptor.dtype == np.float32
    assert store.kept_probes("r1", now=NOW + 900.0) == []  # expired: not found any more
    assert store.kept_probes("unknown", now=NOW) == []
    store.keep_probes([probe("r2", created=NOW + 1000)], now=NOW + 1000, max_rows=100)
    assert store.expire_kept_probes(NOW + 1000) == 0  # r1's rows went lazily with r2's write
    assert store.expire_kept_probes(datetime.fromtimestamp(NOW + 2000, UTC)) == 1  # as retention
    assert store.kept_probes("r2", now=NOW + 1000) == []


def test_the_oldest_probes_go_past_the_limit_and_verdicts_stick(store: GalleryStore) -> None:
    for i in range(5):
        store.keep_probes([probe(f"r{i}", created=NOW + i)], now=NOW + i, max_rows=3)
    assert [bool(store.kept_probes(f"r{i}", now=NOW + 5)) for i in range(5)] == [
        False, False, True, True, True]
    store.set_verdict("r4", 0, "is", "person-2")
    got = store.kept_probes("r4", now=NOW + 5)[0]
    assert (got.verdict, got.verdict_identity) == ("is", "person-2")
    store.set_verdict("r4", 0, None, None)
    assert store.kept_probes("r4", now=NOW + 5)[0].verdict is None


def test_negative_anchors_are_one_per_face_and_deletable(store: GalleryStore) -> None:
    first = NegativeAnchor(id=new_id(), identity_id="person-1", descriptor=vector(1),
                           request_id="r1", face_index=0, score=0.5, created_at=NOW)
    assert store.add_negative_anchor(first).id == first.id
    again = NegativeAnchor(id=new_id(), identity_id="person-1", descriptor=vector(1),
                           request_id="r1", face_index=0, score=0.5, created_at=NOW + 1)
    assert store.add_negative_anchor(again).id == first.id  # the same face: the same anchor
    other = NegativeAnchor(id=new_id(), identity_id="person-1", descriptor=vector(2),
                           request_id="r2", face_index=1, score=None, created_at=NOW + 2)
    store.add_negative_anchor(other)
    listed = store.negative_anchors("person-1")
    assert [a.id for a in listed] == [first.id, other.id]
    assert np.array_equal(listed[1].descriptor, vector(2)) and listed[1].score is None
    assert store.negative_anchors("person-2") == []
    with pytest.raises(AnchorNotFoundError):
        store.delete_negative_anchor("person-2", first.id)  # not that identity's
    store.delete_negative_anchor("person-1", first.id)
    assert [a.id for a in store.negative_anchors("person-1")] == [other.id]
    with pytest.raises(AnchorNotFoundError):
        store.delete_negative_anchor("person-1", first.id)


def test_deleting_a_person_erases_and_counts_their_feedback_rows(store: GalleryStore) -> None:
    person = store.create_identity(name="Zoë")
    store.keep_probes([probe("r1", identity_id=person.id), probe("r2", identity_id=None)],
                      now=NOW, max_rows=10)
    store.add_negative_anchor(NegativeAnchor(
        id=new_id(), identity_id=person.id, descriptor=vector(3), request_id="r1",
        face_index=0, score=0.4, created_at=NOW))
    erased = store.delete_identity(person.id)
    assert (erased.counts["negative_anchors"], erased.counts["kept_probes"]) == (1, 1)
    assert store.negative_anchors(person.id) == [] and store.kept_probes("r1", now=NOW) == []
    assert len(store.kept_probes("r2", now=NOW)) == 1  # nobody's probe stays until it expires
    if isinstance(store, MemoryFeedback):
        assert sum(store.erase_feedback(person.id).values()) == 0


def test_sqlite_schema_version_holds_the_feedback_tables(tmp_path: Path) -> None:
    open_store(f"sqlite:///{tmp_path / 'g.db'}").close()
    with closing(sqlite3.connect(tmp_path / "g.db")) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 7
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
        columns = {r[1] for r in raw.execute("PRAGMA table_info(kept_probes)")}
    assert {"kept_probes", "negative_anchors"} <= tables
    assert {"request_id", "face_index", "descriptor", "identity_id", "created_at",
            "expires_at"} <= columns


def test_two_postgres_replicas_share_kept_probes_and_anchors(postgres_url: str) -> None:
    a, b = open_store(postgres_url), open_store(postgres_url)
    try:
        a.keep_probes([probe("replica-1", 0), probe("replica-1", 1)], now=NOW, max_rows=10)
        assert [p.face_index for p in b.kept_probes("replica-1", now=NOW)] == [0, 1]
        b.set_verdict("replica-1", 1, "wrong", "person-1")
        assert a.kept_probes("replica-1", now=NOW)[1].verdict == "wrong"
        anchor = NegativeAnchor(id=new_id(), identity_id="person-1", descriptor=vector(9),
                                request_id="replica-1", face_index=1, score=0.5, created_at=NOW)
        b.add_negative_anchor(anchor)
        assert [x.id for x in a.negative_anchors("person-1")] == [anchor.id]
        assert a.expire_kept_probes(NOW + 901) == 2
        assert b.kept_probes("replica-1", now=NOW) == []
    finally:
        a.close()
        b.close()
