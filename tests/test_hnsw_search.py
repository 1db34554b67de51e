"""Identification through pgvector's HNSW index past ``storage.hnsw_above`` face samples.

Two real ``facegate serve`` processes on one real PostgreSQL + pgvector: A switches to the HNSW
index once its gallery holds more than one face sample, B keeps the exact in-memory index. Both
must give the same answers on real photos, and identify's ``search`` says which method ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from conftest import NO_CNN_FALLBACK, spawned
from test_replicas import enrol, identify

from facegate.domain import FaceSample
from facegate.matching import DescriptorIndex
from facegate.services.hnsw import HnswSearch
from facegate.storage.base import new_id, utcnow
from facegate.storage.postgres import PostgresStore


@pytest.fixture
def hnsw_and_exact(postgres_url: str, tmp_path: Path
                   ) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    hnsw = {**NO_CNN_FALLBACK, "FACEGATE_STORAGE__HNSW_ABOVE": "1",
            "FACEGATE_STORAGE__EF_SEARCH": "60"}
    specs = [(tmp_path / "hnsw", ["--storage-url", postgres_url], hnsw),
             (tmp_path / "exact", ["--storage-url", postgres_url], NO_CNN_FALLBACK)]
    with spawned(specs) as (a, b):
        yield a, b


def _identify_full(http: httpx.Client, photo: Path) -> dict[str, Any]:
    response = http.post("/v1/identify", files={"image": (photo.name, photo.read_bytes())})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_hnsw_past_the_size_same_answers_as_exact(
        hnsw_and_exact: tuple[httpx.Client, httpx.Client], faces: Path) -> None:
    hnsw, exact = hnsw_and_exact
    assert _identify_full(hnsw, faces / "obama.jpg")["search"] == {
        "method": "exact", "ef_search": None}  # empty gallery: below the size

    obama = enrol(hnsw, "obama", faces / "obama2.jpg")
    biden = enrol(exact, "biden", faces / "biden.jpg")
    answers = {}
    for name, http in (("hnsw", hnsw), ("exact", exact)):
        body = _identify_full(http, faces / "obama.jpg")
        answers[name] = body["faces"][0]
        method = body["search"]
        assert method == ({"method": "hnsw", "ef_search": 60} if name == "hnsw"
                          else {"method": "exact", "ef_search": None})
    for face in answers.values():
        assert face["status"] == "identified"
        assert face["identity"]["identity_id"] == obama["id"]
    assert [c["identity_id"] for c in answers["hnsw"]["candidates"]] == \
        [c["identity_id"] for c in answers["exact"]["candidates"]] == [obama["id"], biden["id"]]
    assert answers["hnsw"]["identity"]["distance"] == \
        pytest.approx(answers["exact"]["identity"]["distance"], abs=1e-5)

    verified = hnsw.post("/v1/verify", data={"identity_id": biden["id"]},
                         files={"image": ("biden.jpg", (faces / "biden.jpg").read_bytes())})
    assert verified.status_code == 200 and verified.json()["match"] is True

    assert exact.delete(f"/v1/identities/{obama['id']}").status_code == 200
    gone = identify(hnsw, faces / "obama.jpg")  # written by the other replica, seen at once
    assert gone["status"] == "unknown"
    assert [c["identity_id"] for c in gone["candidates"]] == [biden["id"]]


def test_hnsw_search_matches_exact_search_on_a_small_gallery(postgres_url: str) -> None:
    """A few hundred rows: the graph search finds the exact top identities and distances."""
    store = PostgresStore(postgres_url)
    try:
        rng = np.random.default_rng(7)
        centres = rng.normal(0, 0.125, (120, 128)).astype(np.float32)
        people = [store.create_identity(name=f"person {n}").id for n in range(len(centres))]
        rows = []
        for identity_id, centre in zip(people, centres, strict=True):
            for _ in range(3):
                sample = FaceSample(
                    id=new_id(), identity_id=identity_id,
                    descriptor=centre + rng.normal(0, 0.03, 128).astype(np.float32),
                    chip_jpeg=b"", image_sha256=new_id() * 2, detection_score=None,
                    created_at=utcnow())
                store.add_face(sample)
                rows.append((sample.id, identity_id, sample.descriptor))
        exact = DescriptorIndex()
        exact.replace_all(rows)
        search = HnswSearch(store, ef_search=200)
        for person in (0, 17, 64, 119):
            probe = centres[person] + rng.normal(0, 0.03, 128).astype(np.float32)
            want, got = exact.search(probe, k=5), search.search(probe, k=5)
            assert [h.identity_id for h in got] == [h.identity_id for h in want]
            assert [h.distance for h in got] == pytest.approx([h.distance for h in want],
                                                              abs=1e-5)
            (own,) = search.search(probe, k=1, identity_id=people[person])
            assert own.face_id == want[0].face_id
            assert own.distance == pytest.approx(want[0].distance, abs=1e-5)
    finally:
        store.close()
