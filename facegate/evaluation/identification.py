"""The open-set identification protocol (1:N with strangers) built from one folder per person.

Protocol (deterministic; ``seed`` only shuffles each person's photos first):

- people are the sub-folders of the root, photos their image files in name order;
- a person with more than ``enrol_images`` photos is *enrolled* with the first ``enrol_images``;
  their other photos are *mated* probes (the right answer is that person);
- a person with at most ``enrol_images`` photos is never enrolled: all their photos are
  *non-mated* probes (the right answer is "unknown").

On the LFW dev images with ``enrol_images=1`` that is 746 enrolled people, 1725 mated and 1340
non-mated probes. A probe (or enrolment photo) without a face is kept, never dropped: a mated
probe without a face is a miss, a non-mated one a correct rejection, and an enrolled person
without any enrolment face cannot be found by anyone.

Metrics: rank-1 and the CMC (share of mated probes whose person is among the k nearest), and
FNIR at a given FPIR: the decision score's threshold is set so that at most that share of
non-mated probes is accepted (FPIR), and FNIR is the share of mated probes not accepted as
their own person at that threshold.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facegate.errors import ValidationError
from facegate.evaluation.metrics import Floats

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".pgm", ".tif", ".tiff"}
FPIR_POINTS = (1e-2, 1e-3)
Vectors = dict[Path, NDArray[np.float32] | None]


@dataclass(frozen=True, slots=True)
class OpenSetProtocol:
    enrolled: dict[str, list[Path]]
    mated: list[tuple[str, Path]]
    non_mated: list[tuple[str, Path]]

    @property
    def images(self) -> list[Path]:
        return sorted({p for paths in self.enrolled.values() for p in paths}
                      | {p for _, p in self.mated} | {p for _, p in self.non_mated})


def build_protocol(root: Path, *, enrol_images: int = 1, seed: int | None = None) \
        -> OpenSetProtocol:
    if enrol_images < 1:
        raise ValidationError("enrol_images must be at least 1")
    enrolled: dict[str, list[Path]] = {}
    mated: list[tuple[str, Path]] = []
    non_mated: list[tuple[str, Path]] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(p for p in folder.iterdir()
                        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if seed is not None:
            random.Random(f"{seed}:{folder.name}").shuffle(photos)
        if len(photos) > enrol_images:
            enrolled[folder.name] = photos[:enrol_images]
            mated.extend((folder.name, p) for p in photos[enrol_images:])
        else:
            non_mated.extend((folder.name, p) for p in photos)
    if not enrolled or not mated:
        raise ValidationError(f"{root} needs people with more than {enrol_images} photos "
                              "(one sub-folder per person)")
    return OpenSetProtocol(enrolled=enrolled, mated=mated, non_mated=non_mated)


@dataclass(frozen=True, slots=True)
class Gallery:
    """Enrolled descriptors: ``matrix`` rows belong to ``owners`` (indexes into ``names``)."""

    names: list[str]
    matrix: NDArray[np.float32]
    owners: NDArray[np.int64]


def gallery_of(protocol: OpenSetProtocol, vectors: Vectors) -> Gallery:
    names = sorted(protocol.enrolled)
    rows, owners = [], []
    for index, name in enumerate(names):
        for path in protocol.enrolled[name]:
            vector = vectors[path]
            if vector is not None:
                rows.append(vector)
                owners.append(index)
    matrix = np.array(rows, dtype=np.float32).reshape(len(rows), -1)
    return Gallery(names=names, matrix=matrix, owners=np.array(owners, dtype=np.int64))


def identity_distances(gallery: Gallery, probe: NDArray[np.float32]) -> Floats:
    """Distance from the probe to each enrolled person (closest sample; inf without one)."""
    per_sample = np.linalg.norm(gallery.matrix.astype(np.float64) - probe.astype(np.float64),
                                axis=1)
    out = np.full(len(gallery.names), np.inf)
    np.minimum.at(out, gallery.owners, per_sample)
    return out


@dataclass(frozen=True, slots=True)
class OpenSetReport:
    enrolled: int
    mated: int
    non_mated: int
    rule: str
    rank1: float
    cmc: Floats
    fnir_at_fpir: dict[float, tuple[float, float]]
    no_face: list[str]
    #: ``(threshold, FPIR, FNIR)`` at the server's configured threshold.
    at_threshold: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def as_dict(self) -> dict[str, object]:
        return {
            "enrolled": self.enrolled, "mated_probes": self.mated,
            "non_mated_probes": self.non_mated, "rule": self.rule, "rank1": self.rank1,
            "cmc": {str(k): float(v) for k, v in zip((1, 5, 10, 20), self.cmc[[0, 4, 9, 19]]
                                                     if len(self.cmc) >= 20 else self.cmc,
                                                     strict=False)},
            "fnir_at_fpir": {f"{fpir:g}": {"fnir": fnir, "threshold": threshold}
                             for fpir, (fnir, threshold) in self.fnir_at_fpir.items()},
            "at_threshold": dict(zip(("threshold", "fpir", "fnir"), self.at_threshold,
                                     strict=True)),
            "no_face": {"count": len(self.no_face), "images": self.no_face,
                        "scored_as": "a mated probe without a face is a miss, a non-mated one "
                                     "a correct rejection"},
        }


def cmc(true_ranks: NDArray[np.int64], *, max_rank: int) -> Floats:
    """Share of mated probes whose person is within rank k, k = 1 … ``max_rank``
    (``true_ranks`` is 1-based; 0 or less: never found)."""
    found = true_ranks[true_ranks > 0]
    return np.array([np.sum(found <= k) / max(1, len(true_ranks))
                     for k in range(1, max_rank + 1)], dtype=np.float64)


def fnir_at_fpir(mated_scores: Floats, mated_correct: NDArray[np.bool_], non_mated_scores: Floats,
                 fpir: float) -> tuple[float, float]:
    """FNIR at the largest threshold whose FPIR is at most ``fpir`` (scores: lower is surer;
    accepted when at most the threshold), and that threshold."""
    impostor = np.sort(non_mated_scores[np.isfinite(non_mated_scores)])
    allowed = int(np.floor(fpir * len(non_mated_scores) + 1e-9))
    if allowed >= len(impostor):
        threshold = float(np.max(mated_scores[np.isfinite(mated_scores)], initial=0.0))
    else:
        # accept below the (allowed+1)-th smallest stranger score, never at it
        threshold = float(np.nextafter(impostor[allowed], -np.inf))
    accepted = mated_correct & (mated_scores <= threshold)
    return float(1.0 - np.mean(accepted)), threshold


def rates_at(mated_scores: Floats, mated_correct: NDArray[np.bool_], non_mated_scores: Floats,
             threshold: float) -> tuple[float, float, float]:
    """``(threshold, FPIR, FNIR)`` when scores at most ``threshold`` are accepted."""
    fpir = float(np.mean(non_mated_scores <= threshold)) if len(non_mated_scores) else 0.0
    fnir = float(1.0 - np.mean(mated_correct & (mated_scores <= threshold)))
    return threshold, fpir, fnir
