"""Synthetic galleries for bench/search that follow the distribution of real descriptors.

1. Real descriptors: every LFW image in ``../shared/faces/lfw/images`` (3811 images of 2086
   people) through facegate's own pipeline, as the server describes a probe (one view), cached
   under ``.cache/bench/descriptors/`` (gitignored; never printed, never committed).
2. The spread, estimated from them: the *within-person* covariance ``W`` (each image's deviation
   from its person's mean, over the people with two or more images, scaled by n/(n-1) so it is
   unbiased) and the *between-person* covariance ``B`` (the covariance of the people's means
   minus the part of ``W`` left in a mean of n images).
3. A synthetic person's centre is a real person's centre plus a perturbation:
   ``mu + cos(a) * (real centre - mu) + sin(a) * z`` with ``z ~ N(0, B)`` and ``cos(a) = 0.5``,
   so the centres keep the real between-person covariance and two synthetic people grown from
   the same real one are as far apart as 0.87 of two unrelated people. A descriptor of that
   person (a gallery sample, or a probe) is the centre plus ``N(0, W)``.
4. Probes: new descriptors of enrolled people (the gallery never holds them) and strangers
   (new centres, never enrolled).

``check`` compares the real and synthetic distance distributions; bench/search prints it.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bench.common import CACHE, LFW, require

Matrix = NDArray[np.float32]
#: How much of a real person's centre a synthetic person keeps (the rest is a fresh draw).
KEEP = 0.5


@dataclass(frozen=True, slots=True)
class Spread:
    mean: NDArray[np.float64]
    within: NDArray[np.float64]
    between: NDArray[np.float64]
    centres: NDArray[np.float64]  # one row per real person
    people: int
    images: int


def real_descriptors(*, workers: int = 2) -> tuple[Matrix, list[str]]:
    """Descriptors of every LFW image with a face found, and each one's person (folder)."""
    from facegate.config import Settings
    from facegate.evaluation.descriptors import describe

    paths = sorted(require(LFW / "images").rglob("*.jpg"))
    found = describe(paths, Settings(), cache_dir=CACHE / "descriptors", workers=workers,
                     purpose="probe")
    kept = [p for p in paths if found[p] is not None]
    rows = [found[p] for p in kept]
    return np.stack(rows).astype(np.float32), [p.parent.name for p in kept]


def _psd_root(covariance: NDArray[np.float64]) -> NDArray[np.float64]:
    values, vectors = np.linalg.eigh(covariance)
    root: NDArray[np.float64] = vectors * np.sqrt(np.clip(values, 0.0, None))
    return root


def estimate(descriptors: Matrix, people: list[str]) -> Spread:
    rows: dict[str, list[int]] = defaultdict(list)
    for i, person in enumerate(people):
        rows[person].append(i)
    data = descriptors.astype(np.float64)
    centres = np.stack([data[r].mean(axis=0) for r in rows.values()])
    residuals = [(data[r] - data[r].mean(axis=0)) * np.sqrt(len(r) / (len(r) - 1))
                 for r in rows.values() if len(r) > 1]
    stacked = np.concatenate(residuals)
    within = stacked.T @ stacked / len(stacked)
    shrink = float(np.mean([1.0 / len(r) for r in rows.values()]))
    between = np.cov(centres, rowvar=False) - shrink * within
    values, vectors = np.linalg.eigh(between)
    between = (vectors * np.clip(values, 0.0, None)) @ vectors.T
    return Spread(mean=data.mean(axis=0), within=within, between=between, centres=centres,
                  people=len(rows), images=len(data))


class Generator:
    """Seeded synthetic people and their descriptors (float32)."""

    def __init__(self, spread: Spread, *, seed: int) -> None:
        self.spread = spread
        self._rng = np.random.default_rng(seed)
        self._within = _psd_root(spread.within)
        self._between = _psd_root(spread.between)

    def _gaussian(self, root: NDArray[np.float64], count: int) -> NDArray[np.float64]:
        draws: NDArray[np.float64] = self._rng.standard_normal((count, root.shape[0])) @ root.T
        return draws

    def centres(self, count: int) -> NDArray[np.float64]:
        spread = self.spread
        base = spread.centres[self._rng.integers(len(spread.centres), size=count)]
        fresh = self._gaussian(self._between, count)
        centres: NDArray[np.float64] = (spread.mean + KEEP * (base - spread.mean)
                                        + np.sqrt(1.0 - KEEP**2) * fresh)
        return centres

    def views(self, centres: NDArray[np.float64]) -> Matrix:
        """One descriptor of each person (a photo's worth of within-person variation)."""
        out: Matrix = np.empty((len(centres), centres.shape[1]), dtype=np.float32)
        for start in range(0, len(centres), 65536):  # bounded float64 temporaries
            part = centres[start:start + 65536]
            out[start:start + len(part)] = part + self._gaussian(self._within, len(part))
        return out


def _percentiles(values: NDArray[np.float64]) -> list[float]:
    return [round(float(v), 3) for v in np.percentile(values, [5, 50, 95])]


def _neighbours(points: NDArray[np.float64], k: int = 20) -> tuple[NDArray[np.float64], ...]:
    """Each point's nearest-neighbour distance and local intrinsic dimension (Levina-Bickel
    maximum likelihood over its ``k`` nearest neighbours): how hard the set is for a graph
    index such as HNSW."""
    sq = np.einsum("ij,ij->i", points, points)
    d2 = sq[:, None] + sq[None, :] - 2.0 * points @ points.T
    np.fill_diagonal(d2, np.inf)
    near = np.sqrt(np.clip(np.partition(d2, k, axis=1)[:, :k], 1e-12, None))
    near.sort(axis=1)
    lid = -1.0 / np.mean(np.log(near[:, :-1] / near[:, -1:]), axis=1)
    return near[:, 0], lid


def check(descriptors: Matrix, people: list[str], generator: Generator, *,
          pairs: int = 20000) -> dict[str, list[float]]:
    """5th/50th/95th percentiles of genuine and impostor distances, descriptor length, nearest
    other person and local intrinsic dimension (one image per person), real LFW against
    synthetic."""
    rng = np.random.default_rng(1)
    data = descriptors.astype(np.float64)
    labels = np.array(people)
    first, second = rng.integers(len(data), size=(2, pairs * 4))
    impostor = labels[first] != labels[second]
    rows: dict[str, list[int]] = defaultdict(list)
    for i, person in enumerate(people):
        rows[person].append(i)
    genuine = np.array([np.linalg.norm(data[r[a]] - data[r[b]]) for r in rows.values()
                        for a in range(len(r)) for b in range(a + 1, len(r))])
    centres = generator.centres(pairs)
    one, two = generator.views(centres), generator.views(centres)
    others = generator.views(generator.centres(pairs))
    first_images = [r[0] for r in rows.values()]
    real_near, real_lid = _neighbours(data[first_images])
    synthetic_near, synthetic_lid = _neighbours(
        generator.views(generator.centres(len(first_images))).astype(np.float64))
    return {
        "real genuine": _percentiles(genuine),
        "synthetic genuine": _percentiles(np.linalg.norm(one - two, axis=1)),
        "real impostor": _percentiles(np.linalg.norm(
            data[first[impostor]] - data[second[impostor]], axis=1)),
        "synthetic impostor": _percentiles(np.linalg.norm(one - others, axis=1)),
        "real length": _percentiles(np.linalg.norm(data, axis=1)),
        "synthetic length": _percentiles(np.linalg.norm(one, axis=1).astype(np.float64)),
        "real nearest other person": _percentiles(real_near),
        "synthetic nearest other person": _percentiles(synthetic_near),
        "real local intrinsic dimension": _percentiles(real_lid),
        "synthetic local intrinsic dimension": _percentiles(synthetic_lid),
    }


if __name__ == "__main__":  # python -m bench.search_data: compute (cache) and check
    found, names = real_descriptors()
    spread = estimate(found, names)
    print(f"{spread.images} descriptors of {spread.people} people", file=sys.stderr)
    for key, value in check(found, names, Generator(spread, seed=0)).items():
        print(f"{key:20s} p5/p50/p95 {value}")
    print(Path(CACHE / "descriptors").as_posix())
