"""Metrics on inputs whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facegate.domain import Candidate
from facegate.evaluation import metrics
from facegate.evaluation.calibration import calibrate
from facegate.evaluation.identification import cmc, fnir_at_fpir
from facegate.matching import CohortRule, decide

# genuine distances 0.1 … 0.5, impostor 0.4 … 0.8: overlap at 0.4 and 0.5
GENUINE = [0.1, 0.2, 0.3, 0.4, 0.5]
IMPOSTOR = [0.4, 0.5, 0.6, 0.7, 0.8]
D = np.array(GENUINE + IMPOSTOR)
SAME = np.array([True] * 5 + [False] * 5)


def test_roc_counts_pairs_at_or_below_each_threshold() -> None:
    curve = metrics.roc(D, SAME)
    at = {round(float(t), 2): (tar, fmr) for t, tar, fmr in
          zip(curve.thresholds, curve.tar, curve.fmr, strict=True)}
    assert at[0.3] == (0.6, 0.0)
    assert at[0.4] == (0.8, 0.2)
    assert at[0.8] == (1.0, 1.0)
    assert curve.tar[0] == 0.0 and curve.fmr[0] == 0.0  # the -inf threshold


def test_best_threshold_and_accuracy() -> None:
    threshold = metrics.best_threshold(D, SAME)
    # best cut accepts 0.1-0.3 (+ ties): 0.35 gives 8/10, as does 0.45 and 0.55
    assert metrics.accuracy_at(D, SAME, threshold) == 0.8
    assert metrics.accuracy_at(D, SAME, 0.05) == 0.5


def test_kfold_threshold_is_chosen_on_the_other_folds() -> None:
    # fold 0 alone would be perfect at 0.45, but folds 1-2 put the threshold at 0.25
    d = np.array([0.4, 0.5, 0.2, 0.3, 0.1, 0.3])
    same = np.array([True, False, True, False, True, False])
    folds = np.array([0, 0, 1, 1, 2, 2])
    results = metrics.kfold_accuracy(d, same, folds)
    assert [r.fold for r in results] == [0, 1, 2]
    assert results[0].threshold == pytest.approx(0.25)
    assert results[0].accuracy == 0.5  # 0.4 genuine rejected, 0.5 impostor rejected


def test_a_missing_face_is_a_non_match() -> None:
    d = np.array([0.2, np.inf, 0.9, np.inf])
    same = np.array([True, True, False, False])
    assert metrics.accuracy_at(d, same, 0.6) == 0.75
    curve = metrics.roc(d, same)
    assert curve.tar.max() == 0.5 and curve.fmr.max() == 0.5


def test_eer_tar_at_far_and_auc() -> None:
    perfect = np.array([0.1, 0.2, 0.8, 0.9])
    labels = np.array([True, True, False, False])
    curve = metrics.roc(perfect, labels)
    assert metrics.auc(curve) == pytest.approx(1.0)
    assert metrics.eer(curve)[0] == pytest.approx(0.0)
    assert metrics.tar_at_far(curve, 0.0) == (1.0, 0.2)
    curve = metrics.roc(D, SAME)
    rate, _ = metrics.eer(curve)
    assert rate == pytest.approx(0.2)
    assert metrics.tar_at_far(curve, 0.2)[0] == pytest.approx(0.8)
    assert metrics.auc(curve) == pytest.approx(1 - 0.2 * 0.2 / 2 - 0.2 * 0.2 / 2, abs=0.05)


def test_clopper_pearson_matches_known_values() -> None:
    # rule of three: 0 of n → upper bound ≈ 3/n (one-sided 95%, two-sided 97.5% ≈ 3.69/n)
    low, high = metrics.clopper_pearson(0, 1000)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 1000), rel=1e-4)
    low, high = metrics.clopper_pearson(5, 10)  # tabulated: 0.1871, 0.8129
    assert (round(low, 4), round(high, 4)) == (0.1871, 0.8129)


def test_calibrate_stays_within_the_target_and_warns_on_too_few_pairs() -> None:
    rng = np.random.default_rng(1)
    genuine = rng.normal(0.4, 0.08, 3000)
    impostor = rng.normal(0.85, 0.08, 20000)
    d = np.concatenate([genuine, impostor])
    same = np.arange(d.size) < genuine.size
    result = calibrate(d, same, target_fmr=1e-3, source="synthetic")
    assert result.fmr <= 1e-3 and result.warning is None
    assert result.fmr_interval[0] <= result.fmr <= result.fmr_interval[1]
    assert np.sum(impostor <= result.threshold) <= 20
    assert result.fnmr == pytest.approx(np.mean(genuine > result.threshold))
    small = calibrate(d[:3100], same[:3100], target_fmr=1e-3, source="few")
    assert small.warning is not None and "3000" in small.warning
    assert small.fmr == 0.0


def test_fnir_at_fpir_and_cmc() -> None:
    strangers = np.array([0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3])
    mated = np.array([0.2, 0.4, 0.2, 0.6])
    correct = np.array([True, True, False, True])
    fnir, threshold = fnir_at_fpir(mated, correct, strangers, 0.1)  # one stranger may pass
    assert 0.3 <= threshold < 0.5
    assert fnir == 0.5  # 0.2 right; 0.4 right; 0.2 wrong identity; 0.6 too far
    fnir, threshold = fnir_at_fpir(mated, correct, strangers, 0.0)
    assert threshold < 0.3 and fnir == 0.75
    ranks = cmc(np.array([1, 2, 1, 0]), max_rank=3)
    assert list(ranks) == [0.5, 0.75, 0.75]


def test_cohort_rule_is_the_plain_distance_without_a_cohort() -> None:
    rule = CohortRule(size=3, reference=0.7)
    assert rule.adjusted(0.5, probe_cohort=[], identity_cohort=[]) == pytest.approx(0.5)
    # a probe close to many people must come closer
    crowded = rule.adjusted(0.5, probe_cohort=[0.55, 0.6, 0.6], identity_cohort=[])
    assert crowded == pytest.approx(0.5 + 0.5 * (0.7 - (0.55 + 0.6 + 0.6) / 3))
    assert rule.cohort_mean([0.9, 0.1, 0.5, 0.3]) == pytest.approx((0.1 + 0.3 + 0.5) / 3)
    best = Candidate(identity_id="a", name="a", distance=0.55, face_id="f")
    assert decide([best], 0.6).known
    assert not decide([best], 0.6, adjusted_distance=crowded + 0.05).known
    assert decide([best], 0.6, adjusted_distance=0.4).adjusted_distance == 0.4
    assert math.isclose(decide([], 0.6).threshold, 0.6)
