"""``matching.NegativeRule``: when negative anchors refuse an identity (docs/accuracy.md)."""

from __future__ import annotations

from facegate.matching import NegativeRule


def test_nearer_refuses_a_probe_nearer_an_anchor_than_the_identitys_own_sample() -> None:
    rule = NegativeRule()
    assert rule.refuses(own=0.45, negatives=[0.2, 0.7])
    assert not rule.refuses(own=0.45, negatives=[0.5, 0.7])
    assert not rule.refuses(own=0.45, negatives=[0.45])  # a tie keeps the person
    assert not rule.refuses(own=0.45, negatives=[])  # no anchors: the threshold decides
    assert NegativeRule(margin=0.05).refuses(own=0.45, negatives=[0.48])
    assert not NegativeRule(margin=-0.05).refuses(own=0.45, negatives=[0.42])


def test_adaptive_is_a_threshold_below_the_anchors_scores_and_off_never_refuses() -> None:
    adaptive = NegativeRule("adaptive")
    assert adaptive.refuses(own=0.3, negatives=[0.9], score=0.52, anchor_scores=[0.5, 0.55])
    assert not adaptive.refuses(own=0.3, negatives=[0.1], score=0.49, anchor_scores=[0.5])
    assert not adaptive.refuses(own=0.3, negatives=[0.1], score=0.9, anchor_scores=[])
    assert not NegativeRule("off").refuses(own=0.5, negatives=[0.0], score=1.0,
                                           anchor_scores=[0.1])
