"""The review-queue part of the GalleryStore contract on every backend of
``conftest.STORE_URLS`` (memory, SQLite, PostgreSQL), plus two store objects on one PostgreSQL
database (two replicas) acting on one cluster.

Descriptors are seeded random points around a few "people" (the contract is about storage and
clustering bookkeeping; tests/api/test_review.py runs the queue on real faces)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from facegate.domain import DESCRIPTOR_SIZE, FaceSample
from facegate.errors import (
    ClusterChangedError,
    ClusterNotFoundError,
    ConflictError,
    DuplicateFaceError,
    ReviewFaceNotFoundError,
)
from facegate.storage.base import GalleryStore, new_id, new_identity, open_store, utcnow
from facegate.storage.review import QueueLimits, ReviewFace, Settlement
from facegate.storage.sqlite import SCHEMA_VERSION
from storage.conftest import upgraded_from

NOW = 1_790_000_000.0
LIMITS = QueueLimits(within=0.45, max_faces=100, max_per_cluster=3)
RNG = np.random.default_rng(18)
CENTRES = [RNG.standard_normal(DESCRIPTOR_SIZE).astype(np.float32) * 0.09 for _ in range(3)]


def face(person: int, *, quality: float = 0.5, at: float = NOW, photo: str = "") -> ReviewFace:
    noise = RNG.standard_normal(DESCRIPTOR_SIZE).astype(np.float32) * 0.012
    return ReviewFace(id=new_id(), descriptor=CENTRES[person] + noise,
                      chip_jpeg=b"\xff\xd8chip" + new_id().encode(),
                      image_sha256=photo or new_id(), quality=quality, seen_at=at,
                      camera="door")


def add(store: GalleryStore, item: ReviewFace, limits: QueueLimits = LIMITS) -> str:
    placed = store.add_review_face(item, limits=limits, new_cluster_id=new_id())
    return placed.cluster_id


def sample(item: ReviewFace, identity_id: str) -> FaceSample:
    return FaceSample(id=new_id(), identity_id=identity_id, descriptor=item.descriptor,
                      chip_jpeg=item.chip_jpeg, image_sha256=item.image_sha256,
                      detection_score=None, created_at=utcnow(), model="dlib")


def test_faces_cluster_by_person_and_list_largest_first(store: GalleryStore) -> None:
    a = [add(store, face(0, quality=q, at=NOW + i)) for i, q in enumerate((0.2, 0.9, 0.5))]
    b = [add(store, face(1, at=NOW + 10 + i)) for i in range(2)]
    c = add(store, face(2, at=NOW + 20))
    assert len(set(a)) == len(set(b)) == 1 and len({a[0], b[0], c}) == 3
    clusters, total = store.review_clusters()
    assert total == 3 and [x.id for x in clusters] == [a[0], b[0], c]
    first = clusters[0]
    assert (first.status, first.size, first.seen, first.first_seen, first.last_seen) == (
        "open", 3, 3, NOW, NOW + 2)
    faces = store.review_faces(first.id)
    assert [f.quality for f in faces] == [0.9, 0.5, 0.2] and first.best_face_id == faces[0].id
    got = store.review_face(faces[0].id)
    assert (got.chip_jpeg, got.camera, got.cluster_id, got.descriptor.tobytes()) == (
        faces[0].chip_jpeg, "door", first.id, faces[0].descriptor.tobytes())
    # a full cluster keeps its best faces: a worse one is counted, a better one replaces the worst
    add(store, face(0, quality=0.1, at=NOW + 30))
    same = store.review_cluster(first.id)
    assert (same.size, same.seen, same.version, same.last_seen) == (3, 4, first.version,
                                                                      NOW + 30)
    add(store, face(0, quality=0.7, at=NOW + 31))
    better = store.review_cluster(first.id)
    assert better.version > first.version and better.size == 3
    assert sorted(f.quality for f in store.review_faces(first.id)) == [0.5, 0.7, 0.9]
    with pytest.raises(ClusterNotFoundError):
        store.review_cluster("nope")
    with pytest.raises(ReviewFaceNotFoundError):
        store.review_face("nope")


def test_the_queue_is_bounded_and_expires_oldest_first(store: GalleryStore) -> None:
    small = QueueLimits(within=0.45, max_faces=3, max_per_cluster=10)
    old = add(store, face(2, at=NOW - 100), small)
    for i in range(3):
        add(store, face(i % 2, at=NOW + i), small)
    with pytest.raises(ClusterNotFoundError):  # its only face was the oldest: evicted
        store.review_cluster(old)
    assert sum(c.size for c in store.review_clusters()[0]) == 3
    assert store.expire_review_items(NOW + 1.5) == 2
    left, total = store.review_clusters()
    assert total == 1 and left[0].size == 1 and left[0].first_seen == NOW + 2


def test_an_action_on_a_stale_version_changes_nothing(store: GalleryStore) -> None:
    cluster_id = add(store, face(0))
    seen = store.review_cluster(cluster_id)
    add(store, face(0, at=NOW + 1))  # joins meanwhile
    identity = new_identity(name="Late", external_id=None, metadata=None)
    faces = store.review_faces(cluster_id)
    with pytest.raises(ClusterChangedError) as refused:
        store.settle_review(Settlement(cluster_id, seen.version, "name", identity=identity,
                                       samples=(sample(faces[0], identity.id),)))
    assert refused.value.details["version"] == store.review_cluster(cluster_id).version
    assert store.counts() == (0, 0) and store.review_cluster(cluster_id).status == "open"


def test_naming_enrols_in_the_same_transaction_and_the_faces_follow_the_person(
        store: GalleryStore) -> None:
    cluster_id = add(store, face(0))
    add(store, face(0, at=NOW + 1))
    current = store.review_cluster(cluster_id)
    faces = store.review_faces(cluster_id)
    identity = new_identity(name="Zoë", external_id=None, metadata=None)
    enrolled = sample(faces[0], identity.id)
    after = store.settle_review(Settlement(
        cluster_id, current.version, "name", identity=identity, samples=(enrolled,),
        enrolled={faces[0].id: enrolled.id}))
    assert after is not None and (after.status, after.identity_id, after.size) == (
        "named", identity.id, 2)
    assert store.get_identity(identity.id).face_count == 1
    assert store.get_face(identity.id, enrolled.id).chip_jpeg == faces[0].chip_jpeg
    kept = {f.id: f for f in store.review_faces(cluster_id)}
    assert kept[faces[0].id].face_id == enrolled.id and kept[faces[1].id].face_id is None
    assert {f.identity_id for f in kept.values()} == {identity.id}
    assert store.review_clusters()[1] == 0  # named: no longer open
    with pytest.raises(ConflictError):
        store.settle_review(Settlement(cluster_id, after.version, "ignore"))
    # erasing the person erases the faces kept of them
    store.delete_identity(identity.id)
    with pytest.raises(ClusterNotFoundError):
        store.review_cluster(cluster_id)
    with pytest.raises(ReviewFaceNotFoundError):
        store.review_face(faces[1].id)


def test_per_face_actions_split_the_cluster(store: GalleryStore) -> None:
    cluster_id = add(store, face(1))
    add(store, face(1, at=NOW + 1))
    add(store, face(1, at=NOW + 2))
    person = store.create_identity(name="Existing")
    faces = store.review_faces(cluster_id)
    taken = store.settle_review(Settlement(
        cluster_id, store.review_cluster(cluster_id).version, "assign",
        face_ids=(faces[0].id,), identity_id=person.id,
        samples=(sample(faces[0], person.id),), split_id=new_id()))
    assert taken is not None and taken.id != cluster_id and taken.size == 1
    assert (taken.status, taken.identity_id) == ("named", person.id)
    rest = store.review_cluster(cluster_id)
    assert rest.size == 2 and rest.status == "open"
    assert store.get_identity(person.id).face_count == 1
    # a duplicate photo refuses the whole action
    dup = sample(faces[0], person.id)
    with pytest.raises(DuplicateFaceError):
        store.settle_review(Settlement(cluster_id, rest.version, "assign", identity_id=person.id,
                                       samples=(sample(faces[1], person.id), dup)))
    assert store.get_identity(person.id).face_count == 1
    assert store.review_cluster(cluster_id).size == 2
    gone = store.settle_review(Settlement(cluster_id, rest.version, "discard",
                                          face_ids=(faces[1].id,)))
    assert gone is None and store.review_cluster(cluster_id).size == 1
    with pytest.raises(ReviewFaceNotFoundError):
        store.settle_review(Settlement(cluster_id, store.review_cluster(cluster_id).version,
                                       "discard", face_ids=("nope",)))


def test_an_ignored_cluster_swallows_the_faces_that_match_it(store: GalleryStore) -> None:
    cluster_id = add(store, face(2))
    ignored = store.settle_review(Settlement(cluster_id, 1, "ignore"))
    assert ignored is not None and ignored.status == "ignored"
    placed = store.add_review_face(face(2, at=NOW + 5), limits=LIMITS, new_cluster_id=new_id())
    assert (placed.outcome, placed.cluster_id) == ("ignored", cluster_id)
    after = store.review_cluster(cluster_id)
    assert (after.size, after.seen, after.last_seen) == (1, 2, NOW + 5)
    assert store.review_clusters(status="ignored")[1] == 1 and store.review_clusters()[1] == 0
    store.settle_review(Settlement(cluster_id, after.version, "discard"))
    assert store.review_clusters(status=None)[1] == 0


def test_two_replicas_cannot_both_act_on_one_version(
        postgres_url: str) -> None:
    one, two = open_store(postgres_url), open_store(postgres_url)
    try:
        cluster_id = add(one, face(0))
        version = two.review_cluster(cluster_id).version
        acts: list[Callable[[], object]] = [
            lambda: one.settle_review(Settlement(cluster_id, version, "ignore")),
            lambda: two.settle_review(Settlement(cluster_id, version, "discard"))]
        outcomes = []
        for act in acts:
            try:
                act()
                outcomes.append("done")
            except ClusterChangedError:
                outcomes.append("409")
        assert outcomes == ["done", "409"]
        assert two.review_cluster(cluster_id).status == "ignored"
    finally:
        one.close()
        two.close()


def test_a_face_joins_only_a_cluster_whose_every_kept_face_is_near(store: GalleryStore) -> None:
    strict = QueueLimits(within=0.45, max_faces=100, max_per_cluster=5, member_within=0.05)
    first = add(store, face(0), strict)
    assert add(store, face(0, at=NOW + 1), strict) != first  # near the mean, not the face
    loose = QueueLimits(within=0.45, max_faces=100, max_per_cluster=5, member_within=0.6)
    assert add(store, face(0, at=NOW + 2), loose) in {c.id for c in store.review_clusters()[0]}
    assert store.review_clusters()[1] == 2


def test_an_older_sqlite_gallery_gains_the_review_queue(tmp_path: Path) -> None:
    assert SCHEMA_VERSION >= 7
    with upgraded_from(tmp_path / "old.db", 6) as store:
        assert store.review_cluster(add(store, face(0))).size == 1
