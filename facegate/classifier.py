"""Identification classifiers over descriptors, in plain numpy: k-nearest-neighbours and a
linear SVM (one-vs-rest).

A fitted classifier is a few arrays (``.npz`` bytes, never a pickle, so a stored model cannot run
code when loaded): predicting needs only numpy. Fitting the SVM's weights is scikit-learn's job
(``services/training.py``). A classifier ranks the identities it was fitted on; it does not
decide whether the probe is one of them at all — identify still holds the best one's distance
against the threshold (open-set rejection).
"""

from __future__ import annotations

import io
from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facegate.errors import ModelError, ValidationError

KINDS = ("knn", "svm")
#: Defaults when not tuned; measured on LFW dev and ORL (docs/accuracy.md).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "knn": {"k": 3, "weights": "distance"},
    "svm": {"C": 100.0},
}

Floats = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Prediction:
    label: str
    #: knn: the share of the (weighted) neighbour vote; svm: the one-vs-rest decision value.
    score: float


@dataclass(frozen=True)
class Classifier:
    kind: str
    params: dict[str, Any]
    #: The classes (identity ids), shape (C,).
    labels: NDArray[np.str_]
    #: knn: ``samples`` (n, 128) and ``sample_class`` (n,) indexes into ``labels``;
    #: svm: ``weights`` (C, 128) and ``bias`` (C,).
    arrays: dict[str, NDArray[Any]]

    def predict(self, probes: Floats, *, top: int = 1) -> list[list[Prediction]]:
        """For each probe, at most ``top`` classes, best first."""
        probes = np.asarray(probes, dtype=np.float32).reshape(-1, self.arrays_width)
        if self.kind == "knn":
            return [self._knn(probe, top) for probe in probes]
        scores = probes @ self.arrays["weights"].T + self.arrays["bias"][None, :]
        out = []
        for row in scores:
            best = np.argsort(-row, kind="stable")[:top]
            out.append([Prediction(str(self.labels[i]), float(row[i])) for i in best])
        return out

    @cached_property
    def known(self) -> frozenset[str]:
        """The labels it was fitted on (people enrolled later are not among them)."""
        return frozenset(str(label) for label in self.labels)

    @property
    def arrays_width(self) -> int:
        key = "samples" if self.kind == "knn" else "weights"
        return int(self.arrays[key].shape[1])

    def _knn(self, probe: Floats, top: int) -> list[Prediction]:
        samples, owner = self.arrays["samples"], self.arrays["sample_class"]
        diff = samples - probe[None, :]
        dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        k = min(int(self.params["k"]), len(dist))
        nearest = np.argpartition(dist, k - 1)[:k] if k < len(dist) else np.arange(len(dist))
        if self.params["weights"] == "distance":
            votes = 1.0 / np.maximum(dist[nearest], 1e-6)
        else:
            votes = np.ones(len(nearest))
        tally: dict[int, list[float]] = {}
        for index, vote in zip(nearest, votes, strict=True):
            entry = tally.setdefault(int(owner[index]), [0.0, np.inf])
            entry[0] += float(vote)
            entry[1] = min(entry[1], float(dist[index]))
        total = sum(v for v, _ in tally.values())
        ranked = sorted(tally.items(), key=lambda kv: (-kv[1][0], kv[1][1]))[:top]
        return [Prediction(str(self.labels[c]), v / total) for c, (v, _) in ranked]

    @property
    def size(self) -> int:
        """The samples it keeps (knn) or the classes it scores (svm)."""
        return int(self.arrays["samples" if self.kind == "knn" else "weights"].shape[0])

    def without(self, labels: Collection[str] = (), *,
                drop_samples: NDArray[np.bool_] | None = None) -> Classifier | None:
        """This classifier without the classes ``labels`` and (knn) without the samples where
        ``drop_samples`` is true (a class left with no sample goes too); None when no class is
        left. Nothing is refitted: the other classes keep their arrays as they were."""
        gone = np.isin(self.labels, np.asarray(list(labels), dtype=str))
        if self.kind == "svm":
            keep = ~gone
            if not keep.any():
                return None
            return Classifier("svm", dict(self.params), self.labels[keep],
                              {"weights": self.arrays["weights"][keep],
                               "bias": self.arrays["bias"][keep]})
        owner = self.arrays["sample_class"]
        keep = ~gone[owner] if drop_samples is None else ~gone[owner] & ~drop_samples
        if not keep.any():
            return None
        return knn(self.arrays["samples"][keep], [str(x) for x in self.labels[owner[keep]]],
                   self.params)

    def to_bytes(self) -> bytes:
        """Uncompressed ``.npz``: descriptors barely compress (1.36 of 1.5 MB for a kNN over
        3,000 samples) while zlib took half of every erasure's time (bench/erasure)."""
        buffer = io.BytesIO()
        arrays: dict[str, Any] = {"labels": self.labels, **self.arrays}
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, kind: str, params: dict[str, Any], blob: bytes) -> Classifier:
        check_params(kind, params)
        wanted = ("samples", "sample_class") if kind == "knn" else ("weights", "bias")
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as data:
                labels = data["labels"]
                arrays = {name: data[name] for name in wanted}
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"the stored {kind} classifier cannot be read: {exc}") from exc
        return cls(kind, dict(params), labels, arrays)


def knn(samples: Floats, labels: list[str], params: dict[str, Any]) -> Classifier:
    """A k-nearest-neighbours classifier: fitting is keeping the samples."""
    check_params("knn", params)
    classes, owner = np.unique(np.asarray(labels), return_inverse=True)
    return Classifier("knn", dict(params), classes,
                      {"samples": np.asarray(samples, dtype=np.float32),
                       "sample_class": owner.astype(np.int32)})


def linear(classes: NDArray[np.str_], weights: NDArray[Any], bias: NDArray[Any],
           params: dict[str, Any]) -> Classifier:
    """A one-vs-rest linear classifier from fitted weights; a binary model's single row of
    weights (positive = the second class) becomes two opposite rows."""
    check_params("svm", params)
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float32))
    bias = np.atleast_1d(np.asarray(bias, dtype=np.float32))
    if len(classes) == 2 and weights.shape[0] == 1:
        weights, bias = np.vstack([-weights, weights]), np.concatenate([-bias, bias])
    return Classifier("svm", dict(params), np.asarray(classes), {"weights": weights, "bias": bias})


def check_params(kind: str, params: dict[str, Any]) -> None:
    """Refuse a kind or parameters the classifiers do not understand."""
    if kind not in KINDS:
        raise ValidationError(f"classifier kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "knn":
        k = params.get("k")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100:
            raise ValidationError("knn needs an integer k between 1 and 100")
        if params.get("weights") not in ("uniform", "distance"):
            raise ValidationError("knn weights must be 'uniform' or 'distance'")
    else:
        c = params.get("C")
        if not isinstance(c, int | float) or isinstance(c, bool) or not 0 < c <= 1e6:
            raise ValidationError("svm needs a regularisation C in (0, 1e6]")
