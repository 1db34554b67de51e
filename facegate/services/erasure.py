"""Erasure: a deleted person or face leaves every trained classifier too.

``without_identity`` and ``without_face`` build the ``ClassifierRewrite`` that the store applies
in the deletion's own transaction, so the gallery and its classifiers change together (a crash
leaves both before or both after). What a classifier loses:

- deleting a person: their class (knn: every sample of theirs; svm: their row of weights);
- deleting one face: knn drops the sample whose descriptor is that face's (bit for bit);
  an SVM keeps its weights (fitted on all samples at once, they hold no sample), unless that
  was the person's last face: then their row goes, as when the person is deleted.

Nothing is refitted: the other classes keep their arrays, and the stored ``metrics`` still
describe the fit, marked with ``changed_since_fit: true`` and running totals
``erased_identities`` and ``erased_samples``; ``identities`` and ``samples`` are the counts
after the erasure. A classifier left with no class is deleted. Retrain to refit on the gallery
as it is (an SVM's other rows were fitted with the erased samples among their negatives).

``reconcile`` brings every stored classifier in line with the gallery as it is now (after
training, which may have read someone deleted while it fitted; at server start), and
``reconciled`` is its pure form, which export applies to what it writes.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from facegate.classifier import Classifier
from facegate.domain import ClassifierInfo, Descriptor
from facegate.errors import FacegateError
from facegate.storage.base import ClassifierRewrite, GalleryStore

logger = logging.getLogger(__name__)

Record = tuple[ClassifierInfo, bytes]
#: Each identity's enrolled descriptors (as little-endian float32 bytes), with multiplicity.
Alive = Mapping[str, Counter[bytes]]


def without_identity(identity_id: str, *, enrolled: Iterable[datetime] = ()) -> ClassifierRewrite:
    """Take ``identity_id`` out of every classifier; ``enrolled``: when each of their faces was
    enrolled (an SVM counts the ones older than itself as erased samples)."""
    times = list(enrolled)

    def rewrite(info: ClassifierInfo, blob: bytes) -> Record | None:
        model = _holding(identity_id, info, blob)
        if not isinstance(model, Classifier):
            return model
        fitted = sum(when <= info.created_at for when in times)
        return _changed(info, model, model.without([identity_id]), svm_samples=fitted)

    return rewrite


def without_face(identity_id: str, descriptor: Descriptor, *, enrolled: datetime,
                 last: bool) -> ClassifierRewrite:
    """Take one face sample out (knn: its descriptor; svm: the person's row when ``last``)."""
    key = _key(descriptor)

    def rewrite(info: ClassifierInfo, blob: bytes) -> Record | None:
        model = _holding(identity_id, info, blob)
        if not isinstance(model, Classifier):
            return model
        if model.kind == "svm":
            fitted = int(enrolled <= info.created_at)  # else it never saw this face
            if not last and not fitted:
                return info, blob
            after = model.without([identity_id]) if last else model
            return _changed(info, model, after, svm_samples=fitted)
        mine = np.flatnonzero(model.labels[model.arrays["sample_class"]] == identity_id)
        rows = [int(i) for i in mine if _key(model.arrays["samples"][i]) == key][:1]
        if not rows:
            return info, blob
        return _changed(info, model, model.without(drop_samples=_mask(model, rows)))

    return rewrite


def alive(rows: Iterable[tuple[str, str, Descriptor]]) -> dict[str, Counter[bytes]]:
    """``Alive`` from ``GalleryStore.descriptors()`` rows."""
    out: dict[str, Counter[bytes]] = {}
    for _, identity_id, descriptor in rows:
        out.setdefault(identity_id, Counter())[_key(descriptor)] += 1
    return out


def reconciled(info: ClassifierInfo, blob: bytes, gallery: Alive) -> Record | None:
    """The classifier without every class whose identity has no face left in ``gallery`` and
    (knn) every sample not enrolled (any more) for its identity; the same record when none."""
    labels = _labels(blob)
    gone = [label for label in labels or () if label not in gallery]
    if labels is not None and not gone and info.kind != "knn":
        return info, blob
    model = _load(info, blob)
    if model is None:
        return None
    if model.kind == "svm":
        return _changed(info, model, model.without(gone))
    left = {label: Counter(counts) for label, counts in gallery.items()}
    drop = []
    for index, owner in enumerate(model.arrays["sample_class"]):
        counts = left.get(str(model.labels[owner]))
        key = _key(model.arrays["samples"][index])
        if counts is None or counts[key] <= 0:
            drop.append(index)
        else:
            counts[key] -= 1
    if not drop:
        return info, blob
    return _changed(info, model, model.without(gone, drop_samples=_mask(model, drop)))


def reconcile(store: GalleryStore, *, only: list[str] | None = None) -> int:
    """Apply ``reconciled`` to the stored classifiers (those of ``only``) in one transaction;
    returns how many changed. Only classifiers saved before the gallery is read are looked at,
    so a sample enrolled since cannot be mistaken for an erased one."""
    ids = [info.id for info in store.list_classifiers()]
    ids = ids if only is None else [i for i in ids if i in only]
    if not ids:
        return 0
    gallery = alive(store.descriptors())
    changed = store.rewrite_classifiers(lambda info, blob: reconciled(info, blob, gallery),
                                        only=ids)
    if changed:
        logger.info("%d classifiers brought in line with the gallery (erased people)", changed)
    return changed


def _changed(info: ClassifierInfo, before: Classifier, after: Classifier | None, *,
             svm_samples: int = 0) -> Record | None:
    """The record and blob of ``after``, marked; None when no class is left."""
    if after is None:
        return None
    knn = after.kind == "knn"
    samples = before.size - after.size if knn else min(svm_samples, info.samples)
    metrics = {**info.metrics, "changed_since_fit": True,
               "erased_identities": int(info.metrics.get("erased_identities", 0))
               + len(before.labels) - len(after.labels),
               "erased_samples": int(info.metrics.get("erased_samples", 0)) + samples}
    new = dataclasses.replace(info, metrics=metrics, identities=len(after.labels),
                              samples=after.size if knn else info.samples - samples)
    return new, after.to_bytes()


def _holding(identity_id: str, info: ClassifierInfo, blob: bytes) -> Classifier | Record | None:
    """The classifier to change when it holds ``identity_id``; else the record as it is, or
    None when it cannot be read (the erasure then deletes it)."""
    labels = _labels(blob)
    if labels is not None and identity_id not in labels:
        return info, blob
    return _load(info, blob)


def _labels(blob: bytes) -> set[str] | None:
    """The classes only (that npz member alone is read); None when unreadable."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            return {str(label) for label in data["labels"]}
    except (OSError, ValueError, KeyError, EOFError):
        return None


def _load(info: ClassifierInfo, blob: bytes) -> Classifier | None:
    """The classifier, or None when it cannot be read: erasing then deletes it, since what it
    holds cannot be checked."""
    try:
        return Classifier.from_bytes(info.kind, info.params, blob)
    except FacegateError:
        logger.warning("classifier %s cannot be read: deleted by the erasure", info.id)
        return None


def _mask(model: Classifier, rows: list[int]) -> NDArray[np.bool_]:
    mask = np.zeros(model.size, dtype=bool)
    mask[rows] = True
    return mask


def _key(descriptor: NDArray[np.float32]) -> bytes:
    return np.asarray(descriptor, dtype="<f4").tobytes()
