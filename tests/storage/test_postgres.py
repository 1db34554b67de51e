"""What only the PostgreSQL backend promises: migrations applied once under a lock, a change log
that keeps replicas' search indexes in step by deltas, the HNSW ``nearest`` and password-free logs.

A real PostgreSQL 18 + pgvector (``postgres_url``: a fresh database per test); no mocks.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
from collections.abc import Iterator

import numpy as np
import psycopg
import pytest

from facegate.domain import DESCRIPTOR_SIZE
from facegate.errors import StoreError
from facegate.matching import distances
from facegate.services.gallery import IndexedGallery
from facegate.storage import pg_schema, postgres
from facegate.storage.base import open_store
from facegate.storage.postgres import PostgresStore, migrate_database, redact_url

from .test_contract import make_sample


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(postgres_url)
    yield opened
    opened.close()


def _applied(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return [(int(r[0]), str(r[1])) for r in
                conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")]


# migrations
def test_open_store_picks_postgres_for_both_schemes(postgres_url: str) -> None:
    for url in (postgres_url, postgres_url.replace("postgresql://", "postgres://", 1)):
        opened = open_store(url)
        try:
            assert isinstance(opened, PostgresStore) and opened.counts() == (0, 0)
        finally:
            opened.close()


ALL_VERSIONS = [m.version for m in pg_schema.MIGRATIONS]


def test_migrations_apply_once_and_are_recorded(postgres_url: str) -> None:
    assert migrate_database(postgres_url) == (ALL_VERSIONS, pg_schema.LATEST)
    assert migrate_database(postgres_url) == ([], pg_schema.LATEST)
    assert _applied(postgres_url) == [(m.version, m.name) for m in pg_schema.MIGRATIONS]
    with psycopg.connect(postgres_url) as conn:
        index = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = "
                             "'faces_descriptor_hnsw'").fetchone()
    assert index is not None and "hnsw (descriptor vector_l2_ops)" in index[0]
    assert f"m='{pg_schema.HNSW_M}'" in index[0].replace(" ", "")
    assert f"ef_construction='{pg_schema.HNSW_EF_CONSTRUCTION}'" in index[0].replace(" ", "")


def test_replicas_starting_together_do_not_race(postgres_url: str) -> None:
    results: list[object] = []

    def start() -> None:
        try:
            results.append(migrate_database(postgres_url)[0])
        except Exception as exc:  # noqa: BLE001 - recorded and asserted below
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=len) == [[], [], [], ALL_VERSIONS]  # one applied, none failed
    assert _applied(postgres_url) == [(m.version, m.name) for m in pg_schema.MIGRATIONS]


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    migrate_database(postgres_url)
    with psycopg.connect(postgres_url) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (99, 'future')")
    with pytest.raises(StoreError, match="upgrade facegate"):
        PostgresStore(postgres_url)


def test_unreachable_database_is_a_store_error_without_the_password(postgres_url: str) -> None:
    url = postgres_url.replace("postgres:@", "postgres:s3cret-pw@").replace(
        "/facegate_test_", "/no_such_db_")
    with pytest.raises(StoreError) as caught:
        PostgresStore(url)
    assert "s3cret-pw" not in str(caught.value) and "no_such_db_" in str(caught.value)


def test_redact_url() -> None:
    assert redact_url("postgresql://app:pw@db:5432/g") == "postgresql://app:***@db:5432/g"
    assert redact_url("postgresql://db/g?user=a&password=pw") == \
        "postgresql://db/g?user=a&password=***"
    assert redact_url("postgresql://app@db/g") == "postgresql://app@db/g"


# change marker and deltas
def test_changes_since_gives_the_current_state_of_changed_faces(store: PostgresStore) -> None:
    start = store.change_marker()
    ada = store.create_identity(name="ada")
    assert store.change_marker() == start  # identities alone do not touch the index
    kept, dropped = make_sample(ada.id, 1), make_sample(ada.id, 2)
    store.add_face(kept)
    store.add_face(dropped)
    store.delete_face(ada.id, dropped.id)
    changes = store.changes_since(start)
    assert changes is not None and changes.marker == store.change_marker() == start + 3
    assert [(f, i, d.tobytes()) for f, i, d in changes.upserts] == \
        [(kept.id, ada.id, kept.descriptor.tobytes())]
    assert changes.removed == [dropped.id]
    later = store.changes_since(changes.marker)
    assert later is not None and (later.upserts, later.removed) == ([], [])
    store.delete_identity(ada.id)
    gone = store.changes_since(changes.marker)
    assert gone is not None and (gone.upserts, gone.removed) == ([], [kept.id])


def test_a_pruned_log_or_a_foreign_marker_means_a_reload(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "CHANGE_LOG_VERSIONS", 3)
    monkeypatch.setattr(postgres, "PRUNE_EVERY", 2)
    ada = store.create_identity(name="ada")
    for seed in range(8):
        store.add_face(make_sample(ada.id, seed))
    assert store.change_marker() == 8
    assert store.changes_since(1) is None  # versions up to 4 were pruned at version 8
    recent = store.changes_since(5)
    assert recent is not None and len(recent.upserts) == 3
    assert store.changes_since(9) is None  # a marker from another database


def _index_rows(gallery: IndexedGallery) -> dict[str, bytes]:
    index = gallery.index
    with index._lock:
        return {face: index._matrix[row].tobytes() for face, row in index._row_of.items()}


def test_replica_indexes_follow_concurrent_writes_by_deltas(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two stores (two replicas) write at once while both keep searching; afterwards both
    indexes hold exactly the gallery, and neither ever reloaded it whole after starting."""
    caplog.set_level(logging.INFO, logger="facegate.services.indexed_gallery")
    stores = [PostgresStore(postgres_url), PostgresStore(postgres_url)]
    galleries = [IndexedGallery(s) for s in stores]
    probe = np.zeros(DESCRIPTOR_SIZE, dtype=np.float32)
    failures: list[BaseException] = []

    def write(node: int) -> None:
        rng = random.Random(node)
        gallery = galleries[node]
        mine: list[tuple[str, str]] = []
        try:
            for step in range(40):
                identity = gallery.store.create_identity(name=f"n{node}-{step}")
                sample = make_sample(identity.id, 1000 * node + step)
                gallery.add(sample)
                mine.append((identity.id, sample.id))
                if rng.random() < 0.4:  # delete one of ours, through either replica
                    victim = mine.pop(rng.randrange(len(mine)))
                    other = galleries[rng.randrange(2)]
                    if rng.random() < 0.5:
                        other.delete_face(*victim)
                    else:
                        other.delete_identity(victim[0])
                gallery.refresh()
                gallery.index.search(probe, k=3)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert failures == []
        truth = {face: vector.tobytes() for face, _, vector in stores[0].descriptors()}
        assert 30 < len(truth) < 80
        for gallery in galleries:
            gallery.refresh()
            assert _index_rows(gallery) == truth
        loads = [r for r in caplog.records if r.getMessage().startswith("search index loaded")]
        assert len(loads) == 2  # the two initial loads, nothing after
    finally:
        for opened in stores:
            opened.close()


# HNSW nearest
def test_nearest_through_hnsw_agrees_with_exact_search(store: PostgresStore,
                                                     postgres_url: str) -> None:
    rng = np.random.default_rng(7)
    centres = rng.normal(0, 0.1, (60, DESCRIPTOR_SIZE)).astype(np.float32)
    owners = [store.create_identity(name=f"p{i}") for i in range(60)]
    for face in range(600):  # ten samples around each person's centre, like real enrolments
        noise = rng.normal(0, 0.03, DESCRIPTOR_SIZE).astype(np.float32)
        store.add_face(dataclasses.replace(make_sample(owners[face % 60].id, face),
                                           descriptor=centres[face % 60] + noise))
    rows = store.descriptors()
    row_of = {face: i for i, (face, _, _) in enumerate(rows)}
    matrix = np.stack([vector for _, _, vector in rows])
    hits = total = 0
    for probe_row in range(0, 600, 30):
        probe = matrix[probe_row] + rng.normal(0, 0.02, DESCRIPTOR_SIZE).astype(np.float32)
        exact = distances(probe, matrix)
        expected = [rows[i][0] for i in np.argsort(exact, kind="stable")[:10]]
        found = store.nearest(probe, k=10, ef_search=100)
        assert len(found) == 10 and found[0][0] == expected[0]
        assert [d for _, _, d in found] == sorted(d for _, _, d in found)
        for face, owner, distance in found:
            assert owner == rows[row_of[face]][1]
            assert distance == pytest.approx(float(exact[row_of[face]]), abs=1e-5)
        hits += len({face for face, _, _ in found} & set(expected))
        total += 10
    assert hits / total >= 0.95
    assert len(store.nearest(matrix[0], k=50, ef_search=10)) == 50  # ef_search raised to k
    with psycopg.connect(postgres_url) as conn, conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT id FROM faces ORDER BY descriptor <-> %s::vector LIMIT 10",
            (postgres.vector_text(matrix[0]),)))
    assert "faces_descriptor_hnsw" in plan
