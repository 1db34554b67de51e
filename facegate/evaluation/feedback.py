"""The feedback protocol (issue 18): does ``wrong`` feedback stop a stranger being named again?

Protocol (deterministic), built from one folder per person:

- the people with at least two photos, in name order, are split alternately: the 1st, 3rd, ...
  are *enrolled* with their first photo (enrolment views; their other photos are mated probes),
  the 2nd, 4th, ... are *strangers* (never enrolled);
- *feedback*: each stranger's first photo is identified; when it is named (a false match), it
  gets ``wrong`` feedback: its descriptor becomes a negative anchor of the identity it was
  given to;
- *scoring*: the strangers' other photos and the enrolled people's other photos are identified
  before (no anchors) and after (with the anchors), at the same threshold and rule as the
  server (``matching.rule``, ``matching.threshold``).

FPIR: share of the strangers' other photos named as anyone. FNIR: share of mated probes not
named as their own person. Repeat false matches: the strangers' other photos named as anyone,
counted over the strangers whose first photo got ``wrong`` feedback (rate: of those photos).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facegate.errors import ValidationError
from facegate.evaluation import identification as ident
from facegate.evaluation.runs import Run
from facegate.matching import CohortRule, NegativeRule

Vector = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class FeedbackProtocol:
    enrolled: dict[str, Path]
    mated: list[tuple[str, Path]]
    #: stranger → (first photo, other photos)
    strangers: dict[str, tuple[Path, list[Path]]]

    @property
    def probes(self) -> list[Path]:
        return [p for _, p in self.mated] + [p for first, rest in self.strangers.values()
                                              for p in [first, *rest]]


def build_protocol(root: Path) -> FeedbackProtocol:
    people = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(p for p in folder.iterdir()
                        if p.is_file() and p.suffix.lower() in ident.IMAGE_SUFFIXES)
        if len(photos) >= 2:
            people.append((folder.name, photos))
    if len(people) < 2:
        raise ValidationError(f"{root} needs at least two people with two or more photos")
    enrolled = {name: photos[0] for name, photos in people[0::2]}
    mated = [(name, p) for name, photos in people[0::2] for p in photos[1:]]
    strangers = {name: (photos[0], photos[1:]) for name, photos in people[1::2]}
    return FeedbackProtocol(enrolled=enrolled, mated=mated, strangers=strangers)


class Decider:
    """The server's open-set decision over an evaluation gallery (one sample per person)."""

    def __init__(self, names: list[str], matrix: Vector, *, threshold: float,
                 cohort: CohortRule | None) -> None:
        self.names, self.matrix = names, matrix.astype(np.float64)
        self.threshold, self.cohort = threshold, cohort
        between = np.linalg.norm(self.matrix[:, None, :] - self.matrix[None, :, :], axis=2)
        np.fill_diagonal(between, np.inf)
        self._between = between

    def decide(self, probe: Vector | None) -> tuple[int, float, float]:
        """(named identity or -1, decision score, plain distance to the nearest identity)."""
        if probe is None or not len(self.names):
            return -1, np.inf, np.inf
        to_ids = np.linalg.norm(self.matrix - probe.astype(np.float64), axis=1)
        best = int(np.argmin(to_ids))
        score = float(to_ids[best])
        if self.cohort is not None:
            others = np.delete(to_ids, best)
            score = self.cohort.adjusted(
                score, probe_cohort=_smallest(others, self.cohort.size),
                identity_cohort=_smallest(self._between[best], self.cohort.size))
        return (best if score <= self.threshold else -1), score, float(to_ids[best])


@dataclass(frozen=True, slots=True)
class Anchor:
    vector: Vector
    score: float


def named(decider: Decider, probe: Vector | None, anchors: dict[int, list[Anchor]],
          rule: NegativeRule) -> int:
    """Who the probe is named as with these negative anchors (-1: unknown)."""
    best, score, own = decider.decide(probe)
    if best < 0 or probe is None or not anchors.get(best):
        return best
    mine = anchors[best]
    negatives = [float(np.linalg.norm(a.vector.astype(np.float64) - probe)) for a in mine]
    refused = rule.refuses(own=own, negatives=negatives, score=score,
                           anchor_scores=[a.score for a in mine])
    return -1 if refused else best


@dataclass(frozen=True, slots=True)
class Rates:
    fpir: float
    fnir: float
    repeat_count: int
    repeat_rate: float
    #: Of the repeats, those named as the very identity the feedback was about.
    repeat_same: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"fpir": self.fpir, "fnir": self.fnir,
                "repeat_false_matches": {"count": self.repeat_count, "rate": self.repeat_rate,
                                         "same_identity": self.repeat_same}}


#: The alternatives ``evaluate feedback`` measures beside the configured rule.
ALTERNATIVES: dict[str, NegativeRule] = {
    **{f"nearer, margin {m:+.2f}": NegativeRule("nearer", m) for m in (-0.05, 0.0, 0.05, 0.1)},
    **{f"adaptive, margin {m:+.2f}": NegativeRule("adaptive", m) for m in (0.0, 0.02, 0.05)},
}


def evaluate(protocol: FeedbackProtocol, enrol: ident.Vectors, probes: ident.Vectors, *,
             threshold: float, cohort: CohortRule | None, rule: NegativeRule,
             alternatives: dict[str, NegativeRule] | None = None) -> dict[str, object]:
    """Before (no anchors) and after (anchors from ``wrong`` feedback, under ``rule``), and
    the same ``after`` for each of the ``alternatives``."""
    present = [(n, enrol[p]) for n, p in sorted(protocol.enrolled.items())
               if enrol.get(p) is not None]
    names = [n for n, _ in present]
    matrix = np.array([v for _, v in present], dtype=np.float32).reshape(len(present), -1)
    decider = Decider(names, matrix, threshold=threshold, cohort=cohort)
    anchors: dict[int, list[Anchor]] = {}
    told: dict[str, int] = {}
    for stranger, (first, _) in sorted(protocol.strangers.items()):
        best, score, _ = decider.decide(probes.get(first))
        vector = probes.get(first)
        if best >= 0 and vector is not None:
            anchors.setdefault(best, []).append(Anchor(vector, score))
            told[stranger] = best
    index = {name: i for i, name in enumerate(names)}

    def rates(rule: NegativeRule, with_anchors: dict[int, list[Anchor]]) -> Rates:
        strangers = [(s, p) for s, (_, rest) in sorted(protocol.strangers.items()) for p in rest]
        who = [named(decider, probes.get(p), with_anchors, rule) for _, p in strangers]
        hit = [w >= 0 for w in who]
        repeat = [h for (s, _), h in zip(strangers, hit, strict=True) if s in told]
        same = sum(told.get(s) == w for (s, _), w in zip(strangers, who, strict=True))
        mated_ok = [named(decider, probes.get(p), with_anchors, rule) == index.get(n, -2)
                    for n, p in protocol.mated]
        return Rates(fpir=float(np.mean(hit)) if hit else 0.0,
                     fnir=float(1.0 - np.mean(mated_ok)) if mated_ok else 0.0,
                     repeat_count=int(sum(repeat)),
                     repeat_rate=float(np.mean(repeat)) if repeat else 0.0, repeat_same=same)

    before = rates(NegativeRule(mode="off"), {})
    stranger_probes = sum(len(rest) for _, rest in protocol.strangers.values())
    return {
        "enrolled": len(protocol.enrolled), "strangers": len(protocol.strangers),
        "mated_probes": len(protocol.mated), "stranger_probes": stranger_probes,
        "feedback_given": len(told), "negative_anchors": sum(map(len, anchors.values())),
        "repeat_probes": sum(len(protocol.strangers[s][1]) for s in told),
        "threshold": threshold, "decision_rule": "cohort" if cohort else "distance",
        "rule": {"mode": rule.mode, "margin": rule.margin},
        "before": before.as_dict(), "after": rates(rule, anchors).as_dict(),
        "alternatives": {label: rates(other, anchors).as_dict()
                         for label, other in (alternatives or {}).items()},
    }


def _smallest(values: NDArray[np.float64], count: int) -> list[float]:
    finite = values[np.isfinite(values)]
    if finite.size > count:
        finite = np.partition(finite, count - 1)[:count]
    return [float(v) for v in finite]


def run_feedback(root: Path, run: Run) -> dict[str, object]:
    """The whole protocol on ``root`` with the run's settings (``facegate evaluate feedback``):
    enrolment views for the enrolled photos, probe views for the rest, as the server does."""
    settings = run.settings
    protocol = build_protocol(root)
    enrol = run.describe(list(protocol.enrolled.values()), "enrol")
    probes = run.describe(protocol.probes)
    cohort = CohortRule(size=settings.matching.cohort_size) \
        if settings.matching.rule == "cohort" else None
    report = evaluate(protocol, enrol, probes, threshold=settings.matching.threshold,
                      cohort=cohort, alternatives=ALTERNATIVES,
                      rule=NegativeRule(settings.feedback.rule, settings.feedback.margin))
    no_face = sum(v is None for v in (*enrol.values(), *probes.values()))
    return {**report, "no_face": no_face}
