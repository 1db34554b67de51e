"""Two ``facegate serve`` processes on one PostgreSQL behave as one server.

Real processes, real HTTP on loopback, real photos, a real PostgreSQL + pgvector database: a face
enrolled through A is identified through B on B's very next request, and once deleted through A
it is never matched by B again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import NO_CNN_FALLBACK, spawned


@pytest.fixture
def replicas(postgres_url: str, tmp_path: Path) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    specs = [(tmp_path / f"replica{n}", ["--storage-url", postgres_url],
              NO_CNN_FALLBACK) for n in (0, 1)]
    with spawned(specs, together=True) as (a, b):  # start together: both migrate at once
        yield a, b


def enrol(http: httpx.Client, name: str, photo: Path) -> dict[str, Any]:
    identity: dict[str, Any] = http.post("/v1/identities", json={"name": name}).json()
    added = http.post(f"/v1/identities/{identity['id']}/faces",
                      files={"image": (photo.name, photo.read_bytes())})
    assert added.status_code == 201, added.text
    return identity


def identify(http: httpx.Client, photo: Path) -> dict[str, Any]:
    response = http.post("/v1/identify", files={"image": (photo.name, photo.read_bytes())})
    assert response.status_code == 200, response.text
    (face,) = response.json()["faces"]
    return dict(face)


def test_enrol_on_one_replica_identify_on_the_other_then_delete(
        replicas: tuple[httpx.Client, httpx.Client], faces: Path) -> None:
    a, b = replicas
    assert identify(b, faces / "obama.jpg")["status"] == "unknown"  # B has loaded its index

    obama = enrol(a, "obama", faces / "obama2.jpg")
    seen_by_b = identify(b, faces / "obama.jpg")
    assert seen_by_b["status"] == "identified"
    assert seen_by_b["identity"]["identity_id"] == obama["id"]
    assert seen_by_b["identity"]["distance"] < 0.6

    biden = enrol(b, "biden", faces / "biden.jpg")
    assert identify(a, faces / "biden.jpg")["identity"]["identity_id"] == biden["id"]
    assert identify(a, faces / "obama3.jpg")["identity"]["identity_id"] == obama["id"]

    assert a.delete(f"/v1/identities/{obama['id']}").status_code == 200
    for photo in ("obama.jpg", "obama2.jpg", "obama3.jpg"):  # even the enrolled photo itself
        face = identify(b, faces / photo)
        assert face["status"] == "unknown" and face["identity"] is None
        assert [c["identity_id"] for c in face["candidates"]] == [biden["id"]]
    assert b.get(f"/v1/identities/{obama['id']}").status_code == 404
    assert identify(b, faces / "biden.jpg")["identity"]["identity_id"] == biden["id"]
