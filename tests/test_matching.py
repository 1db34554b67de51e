"""matching.py: distances, the exact descriptor index (checked against brute force) and the
open-set decision."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from facegate.domain import DESCRIPTOR_SIZE, Candidate, Descriptor
from facegate.matching import DescriptorIndex, Hit, decide, distance, distances, is_match

Rows = dict[str, tuple[str, Descriptor]]


def _vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.standard_normal((count, DESCRIPTOR_SIZE)).astype(np.float32) * 0.1


def brute_force(rows: Rows, probe: Descriptor, *, k: int,
                identity_id: str | None = None) -> list[tuple[str, str, float]]:
    """Per identity its closest sample, computed the slow obvious way, nearest first."""
    best: dict[str, tuple[float, str]] = {}
    for face_id, (owner, vector) in rows.items():
        if identity_id is not None and owner != identity_id:
            continue
        value = float(np.linalg.norm(vector.astype(np.float64) - probe.astype(np.float64)))
        if owner not in best or value < best[owner][0]:
            best[owner] = (value, face_id)
    ranked = sorted(best.items(), key=lambda item: item[1][0])[:k]
    return [(owner, face_id, value) for owner, (value, face_id) in ranked]


def assert_same(hits: list[Hit], expected: list[tuple[str, str, float]]) -> None:
    assert [(h.identity_id, h.face_id) for h in hits] == [(o, f) for o, f, _ in expected]
    assert np.allclose([h.distance for h in hits], [v for _, _, v in expected], atol=1e-5)


def test_distances_equal_numpy_norm_per_row() -> None:
    rng = np.random.default_rng(1)
    gallery, probe = _vectors(rng, 50), _vectors(rng, 1)[0]
    found = distances(probe, gallery)
    assert found.dtype == np.float32 and found.shape == (50,)
    assert np.allclose(found, np.linalg.norm(gallery - probe, axis=1), rtol=1e-5, atol=1e-6)
    assert distances(probe, gallery[:0]).shape == (0,)
    assert distance(gallery[3], probe) == pytest.approx(float(found[3]), abs=1e-6)
    assert distance(probe, probe) == 0.0


def test_random_adds_and_removes_match_brute_force() -> None:
    rng = np.random.default_rng(7)
    index = DescriptorIndex()
    rows: Rows = {}
    probes = _vectors(rng, 5)
    for step in range(1500):
        if rows and rng.random() < 0.4:
            face_id = list(rows)[rng.integers(len(rows))]
            index.remove(face_id)
            del rows[face_id]
        else:
            face_id, owner = f"f{step}", f"id{rng.integers(40)}"
            rows[face_id] = (owner, _vectors(rng, 1)[0])
            index.add(face_id, owner, rows[face_id][1])
        if step % 100 == 99:
            assert len(index) == len(rows)
            for probe in probes:
                assert_same(index.search(probe, k=5), brute_force(rows, probe, k=5))
    assert len(rows) > 64  # grew past the initial capacity on the way


def test_add_is_idempotent_and_unknown_remove_is_a_no_op() -> None:
    rng = np.random.default_rng(2)
    index = DescriptorIndex()
    first, second = _vectors(rng, 2)
    index.add("f1", "a", first)
    index.add("f1", "a", second)
    index.remove("missing")
    assert len(index) == 1
    assert index.search(first, k=1)[0].distance == pytest.approx(0.0, abs=1e-6)


def test_remove_identity_drops_all_its_samples() -> None:
    rng = np.random.default_rng(3)
    index = DescriptorIndex()
    rows: Rows = {}
    for i, vector in enumerate(_vectors(rng, 30)):
        rows[f"f{i}"] = (f"id{i % 4}", vector)
        index.add(f"f{i}", f"id{i % 4}", vector)
    index.remove_identity("id1")
    index.remove_identity("nobody")
    rows = {f: row for f, row in rows.items() if row[0] != "id1"}
    assert len(index) == len(rows) == 22
    probe = _vectors(rng, 1)[0]
    assert_same(index.search(probe, k=10), brute_force(rows, probe, k=10))
    assert index.search(probe, k=10, identity_id="id1") == []


def test_replace_all_drops_old_rows_and_grows_past_capacity() -> None:
    rng = np.random.default_rng(4)
    index = DescriptorIndex()
    index.add("old", "gone", _vectors(rng, 1)[0])
    vectors = _vectors(rng, 100)
    rows = {f"f{i}": (f"id{i}", v) for i, v in enumerate(vectors)}
    index.replace_all([(f, owner, v) for f, (owner, v) in rows.items()])
    assert len(index) == 100
    for i, vector in enumerate(_vectors(rng, 100), start=100):  # past the loaded capacity
        rows[f"f{i}"] = (f"id{i}", vector)
        index.add(f"f{i}", f"id{i}", vector)
    probe = vectors[10]
    hits = index.search(probe, k=300)
    assert "gone" not in {hit.identity_id for hit in hits} and len(hits) == 200
    assert_same(hits, brute_force(rows, probe, k=300))
    assert (hits[0].identity_id, hits[0].face_id) == ("id10", "f10")
    assert hits[0].distance == pytest.approx(0.0, abs=1e-6)
    index.replace_all([])
    assert len(index) == 0 and index.search(probe, k=3) == []


def test_identity_distance_is_its_closest_sample() -> None:
    rng = np.random.default_rng(5)
    probe = _vectors(rng, 1)[0]
    index = DescriptorIndex()
    index.add("far", "ada", probe + 0.5)
    index.add("near", "ada", probe + 0.01)
    index.add("middle", "ada", probe + 0.2)
    index.add("bob1", "bob", probe + 0.1)
    hits = index.search(probe, k=2)
    assert [(h.identity_id, h.face_id) for h in hits] == [("ada", "near"), ("bob", "bob1")]
    assert hits[0].distance == pytest.approx(0.01 * np.sqrt(DESCRIPTOR_SIZE), rel=1e-4)
    assert [h.face_id for h in index.search(probe, k=5, identity_id="ada")] == ["near"]


def test_k_larger_than_identities_returns_each_identity_once() -> None:
    rng = np.random.default_rng(6)
    index = DescriptorIndex()
    for i, vector in enumerate(_vectors(rng, 12)):
        index.add(f"f{i}", f"id{i % 3}", vector)
    hits = index.search(_vectors(rng, 1)[0], k=50)
    assert sorted(h.identity_id for h in hits) == ["id0", "id1", "id2"]
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    assert DescriptorIndex().search(_vectors(rng, 1)[0], k=3) == []


def test_identity_filter_searches_only_that_identity() -> None:
    rng = np.random.default_rng(8)
    index = DescriptorIndex()
    rows: Rows = {}
    for i, vector in enumerate(_vectors(rng, 40)):
        rows[f"f{i}"] = (f"id{i % 5}", vector)
        index.add(f"f{i}", f"id{i % 5}", vector)
    probe = rows["f0"][1]
    hits = index.search(probe, k=3, identity_id="id3")
    assert_same(hits, brute_force(rows, probe, k=3, identity_id="id3"))
    assert len(hits) == 1 and hits[0].identity_id == "id3"


def _candidate(value: float, name: str = "ada") -> Candidate:
    return Candidate(identity_id=f"id-{name}", name=name, distance=value, face_id=f"f-{name}")


def test_decide_known_at_threshold_unknown_just_above() -> None:
    at = decide([_candidate(0.6), _candidate(0.7, "bob")], 0.6)
    assert at.known and at.identity == _candidate(0.6) and at.threshold == 0.6
    above = decide([_candidate(float(np.nextafter(0.6, 1.0)))], 0.6)
    assert not above.known and above.identity is None and above.threshold == 0.6
    assert not decide([], 0.6).known
    assert decide([_candidate(0.35)], 0.4).known and not decide([_candidate(0.45)], 0.4).known
    assert is_match(0.6, 0.6) and not is_match(0.6000001, 0.6)


def test_concurrent_adds_removes_and_searches() -> None:
    rng = np.random.default_rng(9)
    index = DescriptorIndex()
    vectors = _vectors(rng, 800)
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(part: int) -> None:
        try:
            for i in range(part * 200, part * 200 + 200):
                index.add(f"f{i}", f"id{i % 50}", vectors[i])
                if i % 4 == 0:
                    index.remove(f"f{i}")
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    def searcher() -> None:
        try:
            while not done.is_set():
                hits = index.search(vectors[0], k=10)
                assert [h.distance for h in hits] == sorted(h.distance for h in hits)
                assert len({h.identity_id for h in hits}) == len(hits)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(part,)) for part in range(4)]
    searchers = [threading.Thread(target=searcher) for _ in range(3)]
    for thread in writers + searchers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    for thread in searchers:
        thread.join()
    assert errors == []
    rows = {f"f{i}": (f"id{i % 50}", vectors[i]) for i in range(800) if i % 4}
    assert len(index) == len(rows) == 600
    assert_same(index.search(vectors[1], k=60), brute_force(rows, vectors[1], k=60))
