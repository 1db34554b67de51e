"""Whole evaluations, as the ``facegate evaluate`` commands run them (also a library API).

Descriptors come from facegate's own pipeline with the given settings (``descriptors.describe``,
cached per image); decisions use ``matching``'s rules, so the figures are the server's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facegate.config import Settings
from facegate.evaluation import Compare, metrics, plots
from facegate.evaluation import identification as ident
from facegate.evaluation.descriptors import Descriptors, Purpose, describe
from facegate.evaluation.pairs import (
    Pair,
    PairsReport,
    assign_folds,
    pair_distances,
    read_pairs,
    summarise,
)
from facegate.matching import CohortRule

#: ``progress(advance, total)``: called with total first (advance 0), then per image.
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Run:
    """How to compute descriptors: settings, cache folder, worker processes, progress."""

    settings: Settings
    cache_dir: Path | None = None
    workers: int = 2
    progress: Progress | None = None

    def describe(self, paths: list[Path], purpose: Purpose = "probe") \
            -> dict[Path, np.typing.NDArray[np.float32] | None]:
        unique = sorted(set(paths))
        report = self.progress
        if report is not None:
            report(0, len(unique))
        return describe(unique, self.settings, cache_dir=self.cache_dir, workers=self.workers,
                        progress=None if report is None else (lambda n: report(n, len(unique))),
                        purpose=purpose)

    def describe_pairs(self, pairs: list[Pair], compare: Compare = "photos") \
            -> tuple[Descriptors, Descriptors]:
        """Each pair's two descriptors as the server compares them: ``photos`` as verify photo
        vs photo describes both (``augmentation.photo_pair_views``), ``enrolled`` as identify
        and verify against an enrolled person do (the first photo enrolled, the second a
        probe)."""
        if compare == "enrolled":
            return (self.describe([pair.first for pair in pairs], "enrol"),
                    self.describe([pair.second for pair in pairs], "probe"))
        purpose: Purpose = "enrol" if self.settings.augmentation.photo_pair_views == "enrol" \
            else "probe"
        both = self.describe([p.first for p in pairs] + [p.second for p in pairs], purpose)
        return both, both


def evaluate_pairs(pairs_file: Path, *, root: Path, run: Run, folds: int | None = None,
                   seed: int = 0, plots_dir: Path | None = None,
                   compare: Compare = "photos") -> tuple[PairsReport, list[Path]]:
    """The pairs protocol on ``pairs_file``; plots written to ``plots_dir`` when given."""
    pairs = read_pairs(pairs_file, root=root)
    fold_of = assign_folds(pairs, folds=folds, seed=seed)
    enrolled, probes = run.describe_pairs(pairs, compare)
    distances = pair_distances(pairs, enrolled, probes)
    report = summarise(pairs, distances, fold_of, {**probes, **enrolled}, root=root)
    written: list[Path] = []
    if plots_dir is not None:
        same = np.array([p.same for p in pairs], dtype=bool)
        written = plots.pairs_plots(metrics.roc(distances, same), distances, same,
                                    threshold=report.threshold, out_dir=plots_dir,
                                    title=pairs_file.name)
    return report, written


RULES = ("distance", "cohort")


def evaluate_identification(root: Path, *, run: Run, rule: str = "cohort", enrol_images: int = 1,
                            seed: int | None = None, plots_dir: Path | None = None) \
        -> tuple[ident.OpenSetReport, list[Path]]:
    """The open-set protocol built from ``root`` (one folder per person)."""
    protocol = ident.build_protocol(root, enrol_images=enrol_images, seed=seed)
    enrolled = [path for paths in protocol.enrolled.values() for path in paths]
    vectors = {**run.describe(enrolled, "enrol"),
               **run.describe([path for _, path in protocol.mated + protocol.non_mated])}
    scores = OpenSetScores.compute(protocol, vectors, rule=rule,
                                   cohort=CohortRule(size=run.settings.matching.cohort_size))
    ranks = ident.cmc(scores.true_ranks, max_rank=min(50, len(protocol.enrolled)))
    report = ident.OpenSetReport(
        enrolled=len(protocol.enrolled), mated=len(protocol.mated),
        non_mated=len(protocol.non_mated), rule=rule, rank1=float(ranks[0]), cmc=ranks,
        fnir_at_fpir={fpir: ident.fnir_at_fpir(scores.mated, scores.correct, scores.non_mated,
                                               fpir) for fpir in ident.FPIR_POINTS},
        no_face=sorted(str(p.relative_to(root)) for p, v in vectors.items() if v is None),
        at_threshold=ident.rates_at(scores.mated, scores.correct, scores.non_mated,
                                    run.settings.matching.threshold),
    )
    written = [] if plots_dir is None else \
        [plots.cmc_plot(ranks, out_dir=plots_dir, title=root.name)]
    return report, written


@dataclass(frozen=True, slots=True)
class OpenSetScores:
    """Per probe: the decision score (lower is surer) and whether the top-1 is right."""

    mated: metrics.Floats
    correct: np.typing.NDArray[np.bool_]
    non_mated: metrics.Floats
    true_ranks: np.typing.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def compute(cls, protocol: ident.OpenSetProtocol, vectors: ident.Vectors, *, rule: str,
                cohort: CohortRule) -> OpenSetScores:
        gallery = ident.gallery_of(protocol, vectors)
        index = {name: i for i, name in enumerate(gallery.names)}
        # each enrolled sample's distance to every identity but its own (identity cohorts)
        sample_cohorts = [ident.identity_distances(gallery, row) for row in gallery.matrix]
        for row, owner in enumerate(gallery.owners):
            sample_cohorts[row][owner] = np.inf

        def score(probe: np.typing.NDArray[np.float32] | None) -> tuple[float, int]:
            """The decision score (lower is surer) and the nearest identity (-1: none)."""
            if probe is None or gallery.matrix.shape[0] == 0:
                return np.inf, -1
            to_ids = ident.identity_distances(gallery, probe)
            best = int(np.argmin(to_ids))
            if rule == "distance" or not np.isfinite(to_ids[best]):
                return float(to_ids[best]), best
            per_sample = np.linalg.norm(gallery.matrix - probe, axis=1)
            mine = np.flatnonzero(gallery.owners == best)
            sample = int(mine[np.argmin(per_sample[mine])])
            others = np.delete(to_ids, best)
            own = sample_cohorts[sample]
            value = cohort.adjusted(float(to_ids[best]),
                                    probe_cohort=_finite_smallest(others, cohort.size),
                                    identity_cohort=_finite_smallest(own, cohort.size))
            return value, best

        mated, correct, ranks = [], [], []
        for name, path in protocol.mated:
            value, best = score(vectors[path])
            mated.append(value)
            correct.append(best == index[name])
            ranks.append(_rank(gallery, vectors[path], index[name]))
        non_mated = [score(vectors[path])[0] for _, path in protocol.non_mated]
        return cls(mated=np.array(mated), correct=np.array(correct, dtype=bool),
                   non_mated=np.array(non_mated), true_ranks=np.array(ranks, dtype=np.int64))


def _finite_smallest(values: metrics.Floats, count: int) -> list[float]:
    finite = values[np.isfinite(values)]
    if finite.size > count:
        finite = np.partition(finite, count - 1)[:count]
    return [float(v) for v in finite]


def _rank(gallery: ident.Gallery, probe: np.typing.NDArray[np.float32] | None, truth: int) -> int:
    """1-based rank of the true identity by plain distance; 0 when it cannot be found."""
    if probe is None:
        return 0
    to_ids = ident.identity_distances(gallery, probe)
    if not np.isfinite(to_ids[truth]):
        return 0
    return int(np.sum(to_ids < to_ids[truth])) + 1
