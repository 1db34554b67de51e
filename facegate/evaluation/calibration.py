"""Threshold calibration: the distance threshold that gives a target false-match rate on the
operator's own labelled photos, and storing it as the server's threshold.

Labelled data is either a pairs file (``path1,path2,same``) or a folder with one sub-folder
per person, from which every same-person pair (genuine) and every cross-person pair (impostor)
is formed. Pairs with a photo in which no face was found are counted and left out of the rates
(the server refuses such a photo rather than deciding on it).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facegate.config import CALIBRATION_FILE
from facegate.errors import ValidationError
from facegate.evaluation import Compare, metrics
from facegate.evaluation.identification import IMAGE_SUFFIXES
from facegate.evaluation.pairs import pair_distances, read_pairs
from facegate.evaluation.runs import Run

CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Calibration:
    threshold: float
    target_fmr: float
    #: Measured at ``threshold`` on the labelled pairs.
    fmr: float
    fmr_interval: tuple[float, float]
    fnmr: float
    fnmr_interval: tuple[float, float]
    genuine_pairs: int
    impostor_pairs: int
    pairs_without_face: int
    source: str
    #: Set when there are too few impostor pairs to support the target (rule of three).
    warning: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def labelled_distances(source: Path, *, run: Run, root: Path | None = None,
                       compare: Compare = "enrolled") -> tuple[metrics.Floats, metrics.Bools]:
    """Distances and same-person labels of every pair ``source`` defines (a pairs file's
    photos described as ``compare`` says; a folder's always as ``enrolled``)."""
    if source.is_dir():
        return _folder_distances(source, run=run)
    pairs = read_pairs(source, root=root or source.parent)
    enrolled, probes = run.describe_pairs(pairs, compare)
    same = np.array([p.same for p in pairs], dtype=bool)
    return pair_distances(pairs, enrolled, probes), same


def _folder_distances(root: Path, *, run: Run) -> tuple[metrics.Floats, metrics.Bools]:
    photos = [(folder.name, path) for folder in sorted(p for p in root.iterdir() if p.is_dir())
              for path in sorted(folder.iterdir()) if path.suffix.lower() in IMAGE_SUFFIXES]
    if len({name for name, _ in photos}) < 2:
        raise ValidationError(f"{root} needs at least two people (one sub-folder each)")
    # each pair as the server verifies it: the earlier photo enrolled, the later one a probe
    enrolled = run.describe([path for _, path in photos], "enrol")
    probes = run.describe([path for _, path in photos])
    found = [(name, enrolled[path], probes[path]) for name, path in photos]
    missing = sum(1 for _, e, p in found if e is None or p is None)
    usable = [(name, e, p) for name, e, p in found if e is not None and p is not None]
    first = np.array([e for _, e, _ in usable], dtype=np.float64)
    second = np.array([p for _, _, p in usable], dtype=np.float64)
    owners = np.array([name for name, _, _ in usable])
    upper = np.triu_indices(len(usable), k=1)
    gram = (np.sum(first**2, axis=1)[:, None] + np.sum(second**2, axis=1)[None, :]
            - 2.0 * first @ second.T)
    distances = np.sqrt(np.maximum(gram[upper], 0.0))
    same = owners[upper[0]] == owners[upper[1]]
    if missing:  # pairs with a faceless photo: inf, counted by calibrate()
        people = [name for name, e, p in found if e is None or p is None]
        extra_same = sum(sum(1 for n, _, _ in found if n == person) - 1 for person in people)
        extra = missing * (len(found) - 1) - missing * (missing - 1) // 2
        distances = np.concatenate([distances, np.full(extra, np.inf)])
        same = np.concatenate([same, np.arange(extra) < extra_same])
    return distances, same


def calibrate(distances: metrics.Floats, same: metrics.Bools, *, target_fmr: float,
              source: str) -> Calibration:
    """The largest threshold whose FMR on these pairs is at most ``target_fmr``."""
    if not 0.0 < target_fmr < 1.0:
        raise ValidationError("the target FMR must be between 0 and 1")
    finite = np.isfinite(distances)
    usable, labels = distances[finite], same[finite]
    impostor = np.sort(usable[~labels])
    genuine = usable[labels]
    if impostor.size == 0 or genuine.size == 0:
        raise ValidationError("calibration needs both same-person and different-person pairs")
    allowed = int(math.floor(target_fmr * impostor.size + 1e-9))
    threshold = _threshold_below(usable, impostor, allowed)
    false_matches = int(np.sum(impostor <= threshold))
    misses = int(np.sum(genuine > threshold))
    needed = math.ceil(3.0 / target_fmr)
    warning = None
    if impostor.size < needed:
        warning = (f"only {impostor.size} impostor pairs: at least {needed} are needed to "
                   f"support an FMR of {target_fmr:g} (with none observed, the 95% upper bound "
                   f"is 3/N = {3.0 / impostor.size:.2g})")
    return Calibration(
        threshold=threshold, target_fmr=target_fmr,
        fmr=false_matches / impostor.size,
        fmr_interval=metrics.clopper_pearson(false_matches, int(impostor.size),
                                             confidence=CONFIDENCE),
        fnmr=misses / genuine.size,
        fnmr_interval=metrics.clopper_pearson(misses, int(genuine.size), confidence=CONFIDENCE),
        genuine_pairs=int(genuine.size), impostor_pairs=int(impostor.size),
        pairs_without_face=int(np.sum(~finite)), source=source, warning=warning,
    )


def _threshold_below(usable: NDArray[np.float64], impostor: NDArray[np.float64],
                     allowed: int) -> float:
    """Halfway between the first impostor distance that must be rejected and the largest
    distance below it, rounded down to 4 decimals."""
    if allowed >= impostor.size:
        return float(np.max(usable))
    limit = float(impostor[allowed])
    below = usable[usable < limit]
    value = (float(np.max(below)) + limit) / 2.0 if below.size else limit - 1e-4
    rounded = math.floor(value * 1e4) / 1e4
    return rounded if rounded < limit else float(np.nextafter(limit, -np.inf))


def apply(calibration: Calibration, data_dir: Path) -> Path:
    """Store the threshold where ``Settings`` reads it (``<data_dir>/calibration.json``)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CALIBRATION_FILE
    body = {**calibration.as_dict(), "created_at": datetime.now(UTC).isoformat()}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path
