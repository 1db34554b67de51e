"""Erasure in the GalleryStore contract, on every backend of ``conftest.STORE_URLS``: deleting a
person or a face rewrites the stored classifiers in the same transaction (a failing rewrite
leaves both as they were), ``rewrite_classifiers`` keeps, replaces or deletes, and another
replica's ``ClassifierService`` (PostgreSQL) reloads the rewritten classifier within its
recheck. Descriptors are synthetic here; tests/test_erasure.py runs the same over HTTP on
real photos."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import pytest

from facegate.classifier import Classifier
from facegate.domain import ClassifierInfo
from facegate.errors import ClassifierNotFoundError
from facegate.services import erasure
from facegate.services.classifiers import RECHECK_S, ClassifierService
from facegate.services.training import fit
from facegate.storage.base import GalleryStore, open_store

from .test_classifiers_contract import WHEN, make_info
from .test_contract import make_sample

PARAMS: dict[str, dict[str, Any]] = {"knn": {"k": 3, "weights": "distance"}, "svm": {"C": 1.0}}


def gallery(store: GalleryStore, people: int = 3, faces: int = 3) -> list[str]:
    """``people`` identities with ``faces`` samples each; their ids."""
    ids = []
    for p in range(people):
        identity = store.create_identity(name=f"p{p}")
        for f in range(faces):
            store.add_face(make_sample(identity.id, seed=100 * p + f, created_at=WHEN))
        ids.append(identity.id)
    return ids


def trained(store: GalleryStore, kind: str) -> ClassifierInfo:
    rows = store.descriptors()
    model = fit(kind, PARAMS[kind], np.stack([r[2] for r in rows]), [r[1] for r in rows])
    info = dataclasses.replace(make_info(kind=kind), params=PARAMS[kind],
                               identities=len(model.labels), samples=len(rows))
    store.save_classifier(info, model.to_bytes())
    return info


def loaded(store: GalleryStore, info_id: str) -> tuple[ClassifierInfo, Classifier]:
    info = store.get_classifier(info_id)
    return info, Classifier.from_bytes(info.kind, info.params, store.classifier_blob(info_id))


def holds(model: Classifier, descriptor: np.ndarray[Any, Any]) -> bool:
    return bool(np.any(np.all(model.arrays["samples"] == descriptor, axis=1)))


def test_rewrite_replaces_deletes_and_leaves_alone(store: GalleryStore) -> None:
    a, b, c = make_info(), make_info(), make_info()
    for info in (a, b, c):
        store.save_classifier(info, b"old")
    store.activate_classifier(b.id)

    def rewrite(info: ClassifierInfo, blob: bytes) -> tuple[ClassifierInfo, bytes] | None:
        if info.id == b.id:
            return None
        if info.id == a.id:
            return dataclasses.replace(info, params={"k": 1}, metrics={"x": [1]}, identities=2,
                                       samples=5, active=True, kind="other"), b"new"
        return info, blob

    assert store.rewrite_classifiers(rewrite) == 2
    got = store.get_classifier(a.id)
    assert (got.kind, got.created_at, got.active) == ("svm", WHEN, False)  # never rewritten
    assert (got.params, got.metrics, got.identities, got.samples) == ({"k": 1}, {"x": [1]}, 2, 5)
    assert store.classifier_blob(a.id) == b"new" and store.classifier_blob(c.id) == b"old"
    assert store.get_classifier(c.id) == c
    with pytest.raises(ClassifierNotFoundError):
        store.get_classifier(b.id)
    assert store.active_classifier() is None
    assert store.rewrite_classifiers(lambda info, blob: None, only=[c.id]) == 1
    assert [i.id for i in store.list_classifiers()] == [a.id]


def test_deleting_a_person_takes_them_out_of_every_classifier(store: GalleryStore) -> None:
    ids = gallery(store)
    knn, svm = trained(store, "knn"), trained(store, "svm")
    store.activate_classifier(knn.id)
    gone = {f.id: f.descriptor for f in store.list_faces(ids[0])}
    face_ids = store.delete_identity(ids[0], rewrite=erasure.without_identity(
        ids[0], enrolled=[WHEN] * 3))
    assert sorted(face_ids) == sorted(gone)
    info, model = loaded(store, knn.id)
    assert ids[0] not in model.known and model.known == set(ids[1:])
    assert not any(holds(model, d) for d in gone.values()) and model.size == 6
    assert (info.identities, info.samples, info.active) == (2, 6, True)
    assert info.metrics["changed_since_fit"] is True
    assert (info.metrics["erased_identities"], info.metrics["erased_samples"]) == (1, 3)
    info, model = loaded(store, svm.id)
    assert model.known == set(ids[1:]) and model.arrays["weights"].shape == (2, 128)
    assert (info.identities, info.samples, info.metrics["erased_samples"]) == (2, 6, 3)


def test_a_failing_rewrite_keeps_the_person(store: GalleryStore) -> None:
    ids = gallery(store, people=2, faces=2)
    knn = trained(store, "knn")
    blob = store.classifier_blob(knn.id)

    def broken(info: ClassifierInfo, blob: bytes) -> tuple[ClassifierInfo, bytes] | None:
        raise RuntimeError("rewrite failed")

    face = store.list_faces(ids[0])[0]
    with pytest.raises(RuntimeError):
        store.delete_identity(ids[0], rewrite=broken)
    with pytest.raises(RuntimeError):
        store.delete_face(ids[0], face.id, rewrite=broken)
    assert store.get_identity(ids[0]).face_count == 2 and store.counts() == (2, 4)
    assert store.classifier_blob(knn.id) == blob and store.get_classifier(knn.id) == knn


def test_deleting_a_face_drops_its_descriptor_from_knn_only(store: GalleryStore) -> None:
    ids = gallery(store)
    knn, svm = trained(store, "knn"), trained(store, "svm")
    weights = loaded(store, svm.id)[1].arrays["weights"]
    first, *rest = store.list_faces(ids[1])
    store.delete_face(ids[1], first.id, rewrite=erasure.without_face(
        ids[1], first.descriptor, enrolled=first.created_at, last=False))
    info, model = loaded(store, knn.id)
    assert not holds(model, first.descriptor) and all(holds(model, f.descriptor) for f in rest)
    assert (info.identities, info.samples, info.metrics["erased_samples"]) == (3, 8, 1)
    info, model = loaded(store, svm.id)
    assert model.known == set(ids) and np.array_equal(model.arrays["weights"], weights)
    assert (info.samples, info.metrics["erased_samples"], info.metrics["changed_since_fit"]) \
        == (8, 1, True)
    for n, face in enumerate(rest):  # the last face takes the person out of the SVM too
        store.delete_face(ids[1], face.id, rewrite=erasure.without_face(
            ids[1], face.descriptor, enrolled=face.created_at, last=n == len(rest) - 1))
    assert loaded(store, knn.id)[1].known == {ids[0], ids[2]}
    info, model = loaded(store, svm.id)
    assert model.known == {ids[0], ids[2]} and info.metrics["erased_identities"] == 1


def test_the_last_person_erased_deletes_the_classifier(store: GalleryStore) -> None:
    ids = gallery(store, people=1, faces=2)
    knn = trained(store, "knn")
    store.activate_classifier(knn.id)
    store.delete_identity(ids[0], rewrite=erasure.without_identity(ids[0]))
    assert store.list_classifiers() == [] and store.active_classifier() is None


def test_reconcile_drops_whoever_is_gone(store: GalleryStore) -> None:
    """A deletion that did not rewrite (an older facegate, a crash after a training)."""
    ids = gallery(store)
    knn, svm = trained(store, "knn"), trained(store, "svm")
    store.delete_identity(ids[0])
    face = store.list_faces(ids[1])[0]
    store.delete_face(ids[1], face.id)
    assert erasure.reconcile(store) == 2 and erasure.reconcile(store) == 0
    info, model = loaded(store, knn.id)
    assert model.known == set(ids[1:]) and not holds(model, face.descriptor)
    assert (info.samples, info.metrics["erased_samples"]) == (5, 4)
    assert loaded(store, svm.id)[1].known == set(ids[1:])


def test_an_unreadable_classifier_is_deleted_by_an_erasure(store: GalleryStore) -> None:
    ids = gallery(store, people=2, faces=1)
    store.save_classifier(make_info(kind="knn"), b"not an npz")
    store.delete_identity(ids[0], rewrite=erasure.without_identity(ids[0]))
    assert store.list_classifiers() == []


def test_another_replica_reloads_the_rewritten_classifier(postgres_url: str) -> None:
    """Two stores on one PostgreSQL: B's service follows A's erasure within its recheck."""
    a, b = open_store(postgres_url), open_store(postgres_url)
    try:
        ids = gallery(a)
        knn = trained(a, "knn")
        a.activate_classifier(knn.id)
        replica = ClassifierService(b)
        current = replica.current()
        assert current is not None and ids[0] in current[1].known
        a.delete_identity(ids[0], rewrite=erasure.without_identity(ids[0]))
        time.sleep(RECHECK_S + 0.1)
        current = replica.current()
        assert current is not None and current[1].known == set(ids[1:])
        assert current[0].metrics["erased_identities"] == 1
    finally:
        a.close()
        b.close()

