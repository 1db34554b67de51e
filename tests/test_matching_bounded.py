"""DescriptorIndex past ``bounded_min_rows``: lower bounds first, exact distances for the few
rows that could still win. The hits must be exactly those of comparing every row."""

from __future__ import annotations

import numpy as np
import pytest
from test_matching import Rows, assert_same, brute_force

import facegate.matching as matching
from facegate.domain import DESCRIPTOR_SIZE
from facegate.matching import DescriptorIndex, Hit, distances


def _people(rng: np.random.Generator, people: int, per_person: int) -> Rows:
    """Clustered rows like real descriptors: a centre per person plus smaller noise."""
    centres = rng.standard_normal((people, DESCRIPTOR_SIZE)) * 0.09
    # variance falls off and nearly vanishes past ~90 directions, as in real dlib descriptors
    scale = np.concatenate([np.geomspace(2.0, 0.3, 90), np.full(DESCRIPTOR_SIZE - 90, 0.01)])
    rows: Rows = {}
    for person in range(people):
        for view in range(per_person):
            noise = rng.standard_normal(DESCRIPTOR_SIZE) * 0.03
            rows[f"f{person}-{view}"] = (f"id{person}", ((centres[person] + noise) * scale)
                                         .astype(np.float32))
    return rows


def _full_scan(index: DescriptorIndex, rows: Rows, probe: np.ndarray, k: int) -> list[Hit]:
    """The hits of the plain path (every row's exact distance, one stable sort)."""
    order = list(rows)
    plain = DescriptorIndex(bounded_min_rows=10**9)
    plain.replace_all([(f, rows[f][0], rows[f][1]) for f in order])
    return plain.search(probe, k=k)


def test_bounds_never_exceed_the_distance() -> None:
    rng = np.random.default_rng(11)
    rows = _people(rng, 300, 2)
    matrix = np.stack([v for _, v in rows.values()])
    bounds = matching._Bounds(matrix, len(matrix), matching.BOUND_DIMS)
    for probe in [*matrix[:5], *(matrix[5:10] + 0.05), *(rng.standard_normal((5, 128)) * 0.3)]:
        low, probe_sq = bounds.candidates(probe.astype(np.float32), len(matrix))
        exact_sq = distances(probe.astype(np.float32), matrix).astype(np.float64) ** 2
        assert np.all(low + probe_sq <= exact_sq + 1e-5)
        assert np.mean(low + probe_sq) > 0.5 * np.mean(exact_sq)  # and they are not trivial


@pytest.mark.parametrize("k", [1, 3, 11, 40])
def test_bounded_search_equals_the_full_scan(k: int) -> None:
    rng = np.random.default_rng(12 + k)
    rows = _people(rng, 700, 3)
    rows["dup"] = ("id-dup", rows["f5-0"][1].copy())  # an exact tie with another identity
    index = DescriptorIndex(bounded_min_rows=256, bound_dims=24)
    index.replace_all([(f, owner, v) for f, (owner, v) in rows.items()])
    probes = [rows["f5-0"][1], rows["f9-1"][1] + 0.01, *(rng.standard_normal((6, 128)) * 0.1)]
    for probe in probes:
        probe = probe.astype(np.float32)
        hits = index.search(probe, k=k)
        assert hits == _full_scan(index, rows, probe, k)
        assert_same(hits, brute_force(rows, probe, k=k))
    assert index._bounds is not None  # the bounded path ran


def test_bounded_search_reads_few_rows_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(13)
    rows = _people(rng, 2000, 2)
    index = DescriptorIndex(bounded_min_rows=256)
    index.replace_all([(f, owner, v) for f, (owner, v) in rows.items()])
    sizes: list[int] = []

    def counted(probe: np.ndarray, gallery: np.ndarray) -> np.ndarray:
        sizes.append(len(gallery))
        return distances(probe, gallery)

    monkeypatch.setattr(matching, "distances", counted)
    probe = rows["f7-1"][1] + np.float32(0.005)
    assert index.search(probe, k=10)[0].identity_id == "id7"
    assert 0 < max(sizes) < len(rows) // 4


def test_adds_removes_growth_and_identity_filter_stay_exact() -> None:
    rng = np.random.default_rng(14)
    rows = _people(rng, 200, 2)
    index = DescriptorIndex(bounded_min_rows=300, bound_dims=8)
    index.replace_all([(f, owner, v) for f, (owner, v) in rows.items()])
    far = _people(np.random.default_rng(15), 300, 1)  # outside the fitted basis's directions
    for face_id, (owner, vector) in far.items():
        shifted = (vector[::-1] * 3.0).astype(np.float32)
        rows["x" + face_id] = ("x" + owner, shifted)
        index.add("x" + face_id, "x" + owner, shifted)  # grows past capacity: bounds rebuilt
    for face_id in list(rows)[::3]:
        index.remove(face_id)
        del rows[face_id]
    probes = [rows[f][1] for f in list(rows)[:: len(rows) // 6]]
    for probe in probes:
        for k in (1, 5, 1000):
            assert_same(index.search(probe, k=k), brute_force(rows, probe, k=k))
        owner = rows[list(rows)[-1]][0]
        assert_same(index.search(probe, k=2, identity_id=owner),
                    brute_force(rows, probe, k=2, identity_id=owner))
    assert index._bounds is not None and len(index) == len(rows)
