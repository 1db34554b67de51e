"""What the CompreFace and DeepStack dialects' clients decide on the LFW open-set protocol
(``facegate evaluate identification``'s: one photo enrolled per person with more than one, their
other photos mated probes, everyone else's photos strangers), against facegate's own rule.

    python -m bench.compat [--rule cohort|distance] [--workers 2]

For each probe: facegate's decision distance (cohort-adjusted under the cohort rule: what
``similarity.decision_distances`` carries) and the score each dialect answers for its top
candidate: CompreFace's ``similarity`` (clients match at 0.60: Double Take), DeepStack's
``confidence`` (0.67: DeepStack's default cut). Counted: strangers under the client's cut vs
strangers facegate calls unknown; mated probes at or over it with the right name vs facegate's
correct matches; and strangers at or over the looser or stricter cuts clients send (Home
Assistant's deepstack-python 0.45, deepstack-sdk 0.7). A probe without a face scores 0 (CompreFace:
code 28). Writes ``bench/results/compat-<rule>.{json,md}``; prints only counts and shares.
Descriptors come from facegate's own pipeline, cached in ``.cache/bench/descriptors``.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import CACHE, LFW, machine, require, table, write_results
from facegate.api.compat.compreface_shapes import similarity
from facegate.api.compat.similarity import COMPREFACE_AT_THRESHOLD, DEEPSTACK_AT_THRESHOLD, score
from facegate.config import Settings
from facegate.evaluation import identification as ident
from facegate.evaluation.runs import OpenSetScores, Run
from facegate.matching import CohortRule

Scale = Callable[[float, float], float]
#: Each dialect: its clients' cut, and distance, threshold → the score it answers.
DIALECTS: dict[str, tuple[float, Scale]] = {
    "CompreFace similarity": (COMPREFACE_AT_THRESHOLD, similarity),
    "DeepStack confidence": (DEEPSTACK_AT_THRESHOLD, lambda d, t: score(
        d, threshold=t, at_threshold=DEEPSTACK_AT_THRESHOLD)),
}
#: Other cuts clients send.
CLIENT_CUTS = (0.45, 0.5, COMPREFACE_AT_THRESHOLD, DEEPSTACK_AT_THRESHOLD, 0.7)


def open_set(rule: str, workers: int) -> tuple[OpenSetScores, float, int]:
    root = require(LFW / "images")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        protocol = ident.build_protocol(root, enrol_images=1)
        run = Run(settings=settings, cache_dir=CACHE / "descriptors", workers=workers)
        enrolled = [path for paths in protocol.enrolled.values() for path in paths]
        vectors = {**run.describe(enrolled, "enrol"),
                   **run.describe([path for _, path in protocol.mated + protocol.non_mated])}
        scores = OpenSetScores.compute(protocol, vectors, rule=rule,
                                       cohort=CohortRule(size=settings.matching.cohort_size))
    return scores, settings.matching.threshold, len(protocol.enrolled)


def dialect(scores: OpenSetScores, threshold: float, cut: float, scale: Scale) -> dict[str, Any]:
    def scored(values: Any) -> np.typing.NDArray[np.float64]:
        return np.array([scale(float(v), threshold) if np.isfinite(v) else 0.0 for v in values])

    strangers, mated = scored(scores.non_mated), scored(scores.mated)
    return {
        "cut": cut,
        "strangers_under_cut": float(np.mean(strangers < cut)),
        "mated_at_cut_right_name": float(np.mean(scores.correct & (mated >= cut))),
        "decisions_differing": int(np.sum((strangers < cut) != (scores.non_mated > threshold))
                                   + np.sum((mated >= cut) != (scores.mated <= threshold))),
        "strangers_at_or_over": {f"{c:g}": float(np.mean(strangers >= c)) for c in CLIENT_CUTS},
    }


def measure(rule: str, workers: int) -> dict[str, Any]:
    scores, threshold, enrolled = open_set(rule, workers)
    return {
        "rule": rule, "threshold": threshold, "enrolled": enrolled,
        "strangers": len(scores.non_mated), "mated": len(scores.mated),
        "strangers_no_face": int(np.sum(~np.isfinite(scores.non_mated))),
        "facegate_unknown": float(np.mean(scores.non_mated > threshold)),
        "facegate_right_match": float(np.mean(scores.correct & (scores.mated <= threshold))),
        "dialects": {name: dialect(scores, threshold, cut, scale)
                     for name, (cut, scale) in DIALECTS.items()},
    }


def tables_of(found: dict[str, Any]) -> list[str]:
    pct = "{:.2%}".format
    dialects = found["dialects"]
    rows = [["facegate's own rule", "", pct(found["facegate_unknown"]),
             pct(found["facegate_right_match"]), ""]]
    rows += [[name, d["cut"], pct(d["strangers_under_cut"]), pct(d["mated_at_cut_right_name"]),
              d["decisions_differing"]] for name, d in dialects.items()]
    cuts = [[cut, *(pct(d["strangers_at_or_over"][f"{cut:g}"]) for d in dialects.values())]
            for cut in CLIENT_CUTS]
    return [
        f"LFW open set, rule `{found['rule']}`, threshold {found['threshold']}; "
        f"{found['enrolled']} people enrolled with one photo each, {found['strangers']} "
        f"stranger probes ({found['strangers_no_face']} without a face), {found['mated']} "
        "mated probes.",
        table(["decided by", "client's cut", "strangers: unknown / under the cut",
               "mated: right name / right name at or over the cut",
               "decisions differing from facegate's"], rows),
        table(["a client's cut", *(f"strangers at or over it: {name}" for name in dialects)],
              cuts),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rule", choices=("cohort", "distance"), default="cohort")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    facts = machine()
    found = measure(args.rule, args.workers)
    tables = tables_of(found)
    path = write_results(f"compat-{args.rule}",
                         title="The compat dialects' scores vs facegate's open-set rule (LFW)",
                         facts=facts, tables=tables, data=found)
    print("\n\n".join(tables))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
