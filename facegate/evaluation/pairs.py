"""The pairs protocol (1:1 verification): read a pairs file, score it, summarise it.

A pairs file is CSV with a header holding ``path1,path2,same`` and optionally ``fold``
(``same`` is 1/0, true/false or yes/no; paths are relative to a root folder). Without a ``fold``
column the pairs are split into ``k`` folds by a seeded shuffle.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facegate.errors import ValidationError
from facegate.evaluation import metrics
from facegate.evaluation.metrics import Bools, Floats

#: FAR values TAR is reported at.
FAR_POINTS = (1e-2, 1e-3)
_TRUE = {"1", "true", "yes", "same", "y", "t"}
_FALSE = {"0", "false", "no", "different", "n", "f"}


@dataclass(frozen=True, slots=True)
class Pair:
    first: Path
    second: Path
    same: bool
    fold: int | None = None


def read_pairs(path: Path, *, root: Path) -> list[Pair]:
    """Pairs from a ``path1,path2,same[,fold]`` CSV file, paths resolved against ``root``."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"path1", "path2", "same"} - set(reader.fieldnames or [])
        if missing:
            raise ValidationError(f"{path} lacks the column(s) {', '.join(sorted(missing))}")
        pairs = []
        for line, row in enumerate(reader, start=2):
            label = (row["same"] or "").strip().lower()
            if label not in _TRUE | _FALSE:
                raise ValidationError(f"{path}:{line}: 'same' must be 1 or 0, not {label!r}")
            fold = (row.get("fold") or "").strip()
            pairs.append(Pair(first=root / row["path1"].strip(), second=root / row["path2"].strip(),
                              same=label in _TRUE, fold=int(fold) if fold else None))
    if not pairs:
        raise ValidationError(f"{path} holds no pairs")
    return pairs


def assign_folds(pairs: list[Pair], *, folds: int | None, seed: int = 0) -> NDArray[np.int64]:
    """Each pair's fold: the file's own when every pair has one and ``folds`` is not given,
    else a seeded split into ``folds`` (default 10) folds of nearly equal size."""
    given = [p.fold for p in pairs]
    if folds is None and all(f is not None for f in given):
        return np.array(given, dtype=np.int64)
    count = folds or 10
    if not 2 <= count <= len(pairs):
        raise ValidationError(f"--folds must be between 2 and the number of pairs ({len(pairs)})")
    order = np.random.default_rng(seed).permutation(len(pairs))
    assigned = np.empty(len(pairs), dtype=np.int64)
    assigned[order] = np.arange(len(pairs)) % count
    return assigned


@dataclass(frozen=True, slots=True)
class PairsReport:
    """Everything ``facegate evaluate pairs`` prints; rates are fractions (0-1)."""

    pairs: int
    genuine: int
    impostor: int
    folds: list[metrics.FoldResult]
    mean_accuracy: float
    std_accuracy: float
    #: Threshold best on all pairs together (what the plots mark).
    threshold: float
    eer: float
    eer_threshold: float
    tar_at_far: dict[float, tuple[float, float]]
    auc: float
    images: int
    #: Images in which no face was found; pairs using them score distance inf.
    no_face: list[str] = field(default_factory=list)
    pairs_without_face: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "pairs": self.pairs, "genuine": self.genuine, "impostor": self.impostor,
            "accuracy": {"mean": self.mean_accuracy, "std": self.std_accuracy,
                         "folds": [{"fold": f.fold, "threshold": f.threshold,
                                    "accuracy": f.accuracy, "pairs": f.pairs}
                                   for f in self.folds]},
            "threshold": self.threshold,
            "eer": {"rate": self.eer, "threshold": self.eer_threshold},
            "tar_at_far": {f"{far:g}": {"tar": tar, "threshold": threshold}
                           for far, (tar, threshold) in self.tar_at_far.items()},
            "auc": self.auc,
            "images": self.images,
            "no_face": {"count": len(self.no_face), "images": self.no_face,
                        "pairs": self.pairs_without_face,
                        "scored_as": "distance inf: never a match (genuine pairs count as "
                                     "errors, impostor pairs as correct)"},
        }


def pair_distances(pairs: list[Pair], first: dict[Path, NDArray[np.float32] | None],
                   second: dict[Path, NDArray[np.float32] | None] | None = None) -> Floats:
    """Euclidean distance per pair, the first photo's descriptor from ``first``, the second's
    from ``second`` (default: ``first`` too); ``inf`` when either image has no face."""
    second = first if second is None else second
    out = np.full(len(pairs), np.inf, dtype=np.float64)
    for i, pair in enumerate(pairs):
        a, b = first[pair.first], second[pair.second]
        if a is not None and b is not None:
            out[i] = float(np.linalg.norm(a.astype(np.float64) - b.astype(np.float64)))
    return out


def summarise(pairs: list[Pair], distances: Floats, folds: NDArray[np.int64],
              descriptors: dict[Path, NDArray[np.float32] | None], *, root: Path) -> PairsReport:
    same: Bools = np.array([p.same for p in pairs], dtype=bool)
    per_fold = metrics.kfold_accuracy(distances, same, folds)
    accuracies = np.array([f.accuracy for f in per_fold])
    curve = metrics.roc(distances, same)
    rate, eer_threshold = metrics.eer(curve)
    no_face = sorted(_relative(p, root) for p, d in descriptors.items() if d is None)
    return PairsReport(
        pairs=len(pairs), genuine=int(same.sum()), impostor=int((~same).sum()),
        folds=per_fold, mean_accuracy=float(accuracies.mean()),
        std_accuracy=float(accuracies.std()),
        threshold=metrics.best_threshold(distances, same),
        eer=rate, eer_threshold=eer_threshold,
        tar_at_far={far: metrics.tar_at_far(curve, far) for far in FAR_POINTS},
        auc=metrics.auc(curve), images=len(descriptors), no_face=no_face,
        pairs_without_face=int(np.sum(~np.isfinite(distances))),
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
