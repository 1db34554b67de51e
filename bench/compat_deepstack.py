"""What DeepStack's clients see on the LFW open-set protocol: how often a stranger's top
``confidence`` (``similarity.score`` of facegate's decision distance, facegate's threshold at
DeepStack's 0.67) stays under 0.67, against facegate's own *unknown* rate; and the same for the
mated probes. Also how many strangers a client's looser ``min_confidence`` would have let
through had the dialect honoured it as DeepStack does (Home Assistant's deepstack-python sends
0.45), which is why it only ever tightens.

    python -m bench.compat_deepstack [--rule cohort|distance] [--workers 2]

Writes ``bench/results/compat_deepstack.json`` and ``.md`` (``compat_deepstack_distance.*``
with ``--rule distance``). Descriptors come from facegate's
own pipeline (``facegate.evaluation``), cached in ``.cache/bench``; none is printed.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import CACHE, LFW, machine, require, table, write_results
from facegate.api.compat.similarity import DEEPSTACK_AT_THRESHOLD, score
from facegate.config import Settings
from facegate.evaluation import identification as ident
from facegate.evaluation.runs import OpenSetScores, Run
from facegate.matching import CohortRule

#: Cuts the clients send: Home Assistant's component (deepstack-python's default), DeepStack's
#: own default, deepstack-sdk's recognizeFace default.
CLIENT_CUTS = (0.45, DEEPSTACK_AT_THRESHOLD, 0.7)


def confidences(decision_scores: np.typing.NDArray[np.float64],
                threshold: float) -> np.typing.NDArray[np.float64]:
    """Each probe's top confidence (a probe without a face or gallery: 0)."""
    return np.array([score(float(d), threshold=threshold, at_threshold=DEEPSTACK_AT_THRESHOLD)
                     if np.isfinite(d) else 0.0 for d in decision_scores])


def measure(rule: str, workers: int) -> dict[str, Any]:
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
    threshold = settings.matching.threshold
    strangers, mated = (confidences(scores.non_mated, threshold),
                        confidences(scores.mated, threshold))
    return {
        "rule": rule, "threshold": threshold, "at_threshold": DEEPSTACK_AT_THRESHOLD,
        "enrolled": len(protocol.enrolled), "strangers": len(strangers), "mated": len(mated),
        "facegate_unknown_rate": float(np.mean(scores.non_mated > threshold)),
        "stranger_below_067_rate": float(np.mean(strangers < DEEPSTACK_AT_THRESHOLD)),
        "facegate_mated_identified_rate": float(np.mean(
            scores.correct & (scores.mated <= threshold))),
        "mated_named_rate": float(np.mean(scores.correct & (mated >= DEEPSTACK_AT_THRESHOLD))),
        "strangers_at_or_over": {f"{cut:g}": float(np.mean(strangers >= cut))
                                 for cut in CLIENT_CUTS},
        "stranger_confidence_p99": float(np.quantile(strangers, 0.99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rule", choices=("cohort", "distance"), default="cohort")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    facts = machine()
    found = measure(args.rule, args.workers)
    pct = "{:.2%}".format
    rows = [["strangers (non-mated)", found["strangers"], pct(found["facegate_unknown_rate"]),
             pct(found["stranger_below_067_rate"])],
            ["mated probes", found["mated"], pct(found["facegate_mated_identified_rate"]),
             pct(found["mated_named_rate"])]]
    tables = [
        f"LFW open set, rule {found['rule']}, threshold {found['threshold']} → confidence "
        f"{found['at_threshold']}; {found['enrolled']} people enrolled with one photo each",
        table(["probes", "count", "facegate: unknown (strangers) / right name (mated)",
               "DeepStack: top confidence < 0.67 (strangers) / named ≥ 0.67 (mated)"], rows),
        table(["a client's min_confidence", "strangers at or over it"],
              [[cut, pct(share)] for cut, share in found["strangers_at_or_over"].items()]),
    ]
    name = "compat_deepstack" + ("" if args.rule == "cohort" else f"_{args.rule}")
    path = write_results(name, title="DeepStack confidence on the LFW open set",
                         facts=facts, tables=tables, data=found)
    print("\n\n".join(tables))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
