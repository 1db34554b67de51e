"""Verification metrics over distances, in plain numpy.

Conventions: a *distance* is lower-is-closer, and a pair is declared a match when its distance is
**at most** the threshold (as ``matching.is_match``). FMR (false match rate, = FAR) is the share
of impostor pairs declared a match; FNMR (= 1 - TAR) the share of genuine pairs that are not.
A pair whose face could not be found is given the distance ``inf``: it never matches, so it is a
false non-match when genuine and a correct rejection when impostor, as an authentication server
that refuses the photo would score it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Roc:
    """Error rates at every distinct threshold, ascending: ``fmr[i]`` and ``tar[i]`` are the
    rates when pairs with distance <= ``thresholds[i]`` are declared matches."""

    thresholds: Floats
    fmr: Floats
    tar: Floats

    @property
    def fnmr(self) -> Floats:
        return 1.0 - self.tar


def roc(distances: Floats, same: Bools) -> Roc:
    """The ROC of ``distances`` (``inf`` for pairs without a face) with labels ``same``."""
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    genuine = np.sort(distances[same])
    impostor = np.sort(distances[~same])
    if genuine.size == 0 or impostor.size == 0:
        raise ValueError("a ROC needs both genuine and impostor pairs")
    finite = np.unique(distances[np.isfinite(distances)])
    thresholds = np.concatenate([[-np.inf], finite])
    tar = np.searchsorted(genuine, thresholds, side="right") / genuine.size
    fmr = np.searchsorted(impostor, thresholds, side="right") / impostor.size
    return Roc(thresholds=thresholds, fmr=fmr.astype(np.float64), tar=tar.astype(np.float64))


def accuracy_at(distances: Floats, same: Bools, threshold: float) -> float:
    """Share of pairs decided correctly at ``threshold``."""
    decided = np.asarray(distances) <= threshold
    return float(np.mean(decided == np.asarray(same, dtype=bool)))


def best_threshold(distances: Floats, same: Bools) -> float:
    """The threshold with the highest accuracy on these pairs: the midpoint between the two
    neighbouring distances that bound the best cut (the lowest such cut on ties)."""
    curve = roc(distances, same)
    genuine_share = float(np.mean(same))
    correct = genuine_share * curve.tar + (1.0 - genuine_share) * (1.0 - curve.fmr)
    best = int(np.argmax(correct))
    finite = curve.thresholds[1:]
    if best == 0:
        return float(finite[0] - 1e-6) if finite.size else 0.0
    if best == len(curve.thresholds) - 1:
        return float(curve.thresholds[best])
    return float((curve.thresholds[best] + curve.thresholds[best + 1]) / 2.0)


@dataclass(frozen=True, slots=True)
class FoldResult:
    fold: int
    threshold: float
    accuracy: float
    pairs: int


def kfold_accuracy(distances: Floats, same: Bools, folds: NDArray[np.int64]) -> list[FoldResult]:
    """The LFW protocol: each fold is scored at the threshold that is best on the other folds."""
    results = []
    for fold in sorted({int(f) for f in folds}):
        test = folds == fold
        threshold = best_threshold(distances[~test], same[~test])
        results.append(FoldResult(fold=fold, threshold=threshold, pairs=int(test.sum()),
                                  accuracy=accuracy_at(distances[test], same[test], threshold)))
    return results


def eer(curve: Roc) -> tuple[float, float]:
    """Equal error rate and the threshold where FMR and FNMR cross (interpolated)."""
    gap = curve.fmr - curve.fnmr  # rises from -1 towards +1 as the threshold grows
    after = int(np.argmax(gap >= 0.0))
    if after == 0:
        return float(curve.fmr[0]), float(curve.thresholds[0])
    before = after - 1
    span = gap[after] - gap[before]
    t = 0.0 if span == 0 else -gap[before] / span
    rate = curve.fmr[before] + t * (curve.fmr[after] - curve.fmr[before])
    threshold = _lerp(curve.thresholds[before], curve.thresholds[after], t)
    return float(rate), threshold


def _lerp(a: float, b: float, t: float) -> float:
    if not math.isfinite(a):
        return float(b)
    return float(a + t * (b - a))


def tar_at_far(curve: Roc, far: float) -> tuple[float, float]:
    """The highest TAR whose FMR is at most ``far``, and its threshold."""
    allowed = np.flatnonzero(curve.fmr <= far)
    best = int(allowed[-1])  # fmr is non-decreasing; index 0 (-inf) always qualifies
    return float(curve.tar[best]), float(curve.thresholds[best])


def auc(curve: Roc) -> float:
    """Area under the ROC (TAR against FMR), trapezoidal, the curve closed at (1, 1)."""
    fmr = np.concatenate([curve.fmr, [1.0]])
    tar = np.concatenate([curve.tar, [1.0]])
    return float(np.sum(np.diff(fmr) * (tar[1:] + tar[:-1]) / 2.0))


def clopper_pearson(errors: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial confidence interval for a rate observed as ``errors/trials``."""
    if trials <= 0:
        return 0.0, 1.0
    alpha = (1.0 - confidence) / 2.0
    low = 0.0 if errors == 0 else _solve(lambda p: _binom_sf(errors, trials, p) - alpha)
    high = 1.0 if errors >= trials else \
        _solve(lambda p: alpha - _binom_cdf(errors, trials, p))
    return low, high


def _solve(increasing: Callable[[float], float]) -> float:
    """Root in (0, 1) of an increasing function, by bisection."""
    lo, hi = 0.0, 1.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        if increasing(mid) < 0.0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    i = np.arange(0, k + 1, dtype=np.float64)
    log_terms = (math.lgamma(n + 1) - _lgamma(i + 1) - _lgamma(n - i + 1)
                 + i * math.log(p) + (n - i) * math.log1p(-p))
    top = float(np.max(log_terms))
    return min(1.0, math.exp(top) * float(np.sum(np.exp(log_terms - top))))


def _binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k)."""
    return 1.0 - _binom_cdf(k - 1, n, p) if k > 0 else 1.0


def _lgamma(values: Floats) -> Floats:
    return np.array([math.lgamma(v) for v in values], dtype=np.float64)
