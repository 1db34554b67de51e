"""Fit an identification classifier over the gallery's descriptors: cross-validate it, tune
its hyper-parameters by grid search, and store it versioned (``facegate train``, POST /v1/train).

Cross-validation: every identity with at least two samples spreads its samples over the folds
(seeded); each held-out sample is classified by a model fitted on every other sample, including
the people enrolled once (they are always in the training part). ``accuracy`` is the share of
held-out samples named right (closed set: the probe is someone enrolled); the same folds give
``nearest_sample_accuracy``, what identify's plain nearest-neighbour search scores, for
comparison.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facegate.classifier import DEFAULT_PARAMS, Classifier, check_params, knn, linear
from facegate.domain import ClassifierInfo
from facegate.errors import ClassifierNotFoundError, ValidationError
from facegate.services import erasure
from facegate.storage.base import GalleryStore, utcnow

#: The ``--tune`` grid of each kind.
GRID: dict[str, list[dict[str, Any]]] = {
    "knn": [{"k": k, "weights": w} for k in (1, 3, 5, 7, 10) for w in ("uniform", "distance")],
    "svm": [{"C": c} for c in (0.1, 1.0, 10.0, 100.0, 1000.0)],
}
#: Called with (done, total) as the cross-validation fits progress.
Progress = Callable[[int, int], None]


def fit(kind: str, params: dict[str, Any], x: NDArray[np.float32],
        labels: list[str]) -> Classifier:
    check_params(kind, params)
    if kind == "knn":
        return knn(x, labels, params)
    classes = np.unique(np.asarray(labels))
    if len(classes) < 2:
        raise ValidationError("an SVM needs at least two identities in the gallery")
    from sklearn.svm import LinearSVC  # training only: identify never needs scikit-learn

    with warnings.catch_warnings():  # people enrolled once make most classes a single sample
        warnings.filterwarnings("ignore", message="The number of unique classes is greater")
        model = LinearSVC(C=float(params["C"]), max_iter=10_000).fit(x, labels)
    return linear(model.classes_, model.coef_, model.intercept_, params)


def fold_of(labels: list[str], folds: int, *, seed: int) -> NDArray[np.int64]:
    """Each sample's fold; -1 for samples never held out (their identity has only one)."""
    rng = np.random.default_rng(seed)
    out = np.full(len(labels), -1, dtype=np.int64)
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    for label in sorted(by_label):
        members = by_label[label]
        if len(members) < 2:
            continue
        start = int(rng.integers(folds))
        for rank, index in enumerate(rng.permutation(members)):
            out[index] = (start + rank) % folds
    return out


def cross_validate(kind: str, params: dict[str, Any], x: NDArray[np.float32], labels: list[str],
                   *, folds: int, seed: int,
                   progress: Callable[[], None] | None = None) -> dict[str, Any]:
    """Accuracy on held-out samples (mean and std over the folds), with the nearest-sample
    accuracy on the same folds; ``accuracy`` is None when no identity has two samples."""
    fold = fold_of(labels, folds, seed=seed)
    names = np.asarray(labels)
    per_fold, nearest, held_out = [], [], 0
    for f in range(folds):
        test = np.flatnonzero(fold == f)
        if progress is not None:
            progress()
        if len(test) == 0:
            continue
        train = np.flatnonzero(fold != f)
        train_labels = [labels[i] for i in train]
        model = fit(kind, params, x[train], train_labels)
        truth = names[test]
        guess = np.array([p[0].label for p in model.predict(x[test])])
        one = knn(x[train], train_labels, {"k": 1, "weights": "uniform"})
        near = np.array([p[0].label for p in one.predict(x[test])])
        per_fold.append(float(np.mean(guess == truth)))
        nearest.append(float(np.mean(near == truth)))
        held_out += len(test)
    if not per_fold:
        return {"accuracy": None, "folds": folds, "held_out": 0,
                "note": "no identity has two samples: nothing to validate on"}
    return {"accuracy": round(float(np.mean(per_fold)), 6),
            "accuracy_std": round(float(np.std(per_fold)), 6),
            "nearest_sample_accuracy": round(float(np.mean(nearest)), 6),
            "folds": len(per_fold), "held_out": held_out, "seed": seed}


def train(store: GalleryStore, *, kind: str, params: dict[str, Any] | None = None,
          tune: bool = False, folds: int = 5, seed: int = 0,
          progress: Progress | None = None) -> ClassifierInfo:
    """Fit a ``kind`` classifier on every sample in the gallery and store it (inactive).

    ``tune`` cross-validates each parameter set of ``GRID[kind]`` and keeps the most accurate
    (the first on a tie); otherwise ``params`` (default ``DEFAULT_PARAMS[kind]``) is validated
    once. The stored metrics hold the chosen set's validation and, when tuned, every set's.
    """
    if not 2 <= folds <= 20:
        raise ValidationError("folds must be between 2 and 20")
    rows = store.descriptors()
    if not rows:
        raise ValidationError("the gallery is empty: enrol labelled photos before training")
    x = np.stack([descriptor for _, _, descriptor in rows]).astype(np.float32)
    labels = [identity_id for _, identity_id, _ in rows]
    candidates = GRID[kind] if tune else [dict(params or DEFAULT_PARAMS.get(kind, {}))]
    for candidate in candidates:
        check_params(kind, candidate)
    total, done = len(candidates) * folds, 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    results = [(c, cross_validate(kind, c, x, labels, folds=folds, seed=seed, progress=step))
               for c in candidates]
    best, metrics = max(results, key=lambda r: r[1]["accuracy"] or 0.0)
    if tune:
        metrics = {**metrics, "grid": [{"params": c, "accuracy": m["accuracy"]}
                                       for c, m in results]}
    classifier = fit(kind, best, x, labels)
    now = utcnow()
    info = ClassifierInfo(id=version_id(now, kind), kind=kind, params=best, metrics=metrics,
                          created_at=now, identities=len(set(labels)), samples=len(labels))
    store.save_classifier(info, classifier.to_bytes())
    # Someone deleted while it fitted is in its arrays: take them out before anyone uses it.
    if erasure.reconcile(store, only=[info.id]):
        try:
            return store.get_classifier(info.id)
        except ClassifierNotFoundError as exc:
            raise ValidationError("everyone it was fitted on was deleted meanwhile") from exc
    return info


def version_id(when: datetime, kind: str) -> str:
    """A sortable, readable version: ``20261127T021500123456-svm``."""
    return f"{when:%Y%m%dT%H%M%S%f}-{kind}"
