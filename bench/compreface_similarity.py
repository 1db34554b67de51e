"""What CompreFace clients decide with facegate's similarity, against facegate's own rule, on the
LFW open-set protocol (``facegate evaluate identification``'s: one photo enrolled per person with
more than one, their other photos mated probes, everyone else's photos strangers).

    python -m bench.compreface_similarity [--rule cohort|distance]

For each probe: facegate's decision score (the distance it holds against its threshold, the
cohort-adjusted one under the cohort rule: what ``similarity.decision_distances`` carries) and
the similarity ``/api/v1/recognition/recognize`` answers for its top subject. Counted: strangers
whose top similarity stays under 0.60 (Double Take's match cut) vs strangers facegate calls
unknown; mated probes at 0.60 or more with the right subject vs facegate's correct matches. A
probe without a face counts as CompreFace's code 28 (no subject, no match). Writes
``bench/results/compreface_similarity-<rule>.{json,md}``; prints only counts and shares.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from bench.common import CACHE, LFW, machine, require, table, write_results
from facegate.api.compat.compreface_shapes import similarity
from facegate.api.compat.similarity import COMPREFACE_AT_THRESHOLD
from facegate.config import Settings
from facegate.evaluation import identification as ident
from facegate.evaluation.runs import OpenSetScores, Run
from facegate.matching import CohortRule


def measure(rule: str) -> dict[str, Any]:
    settings = Settings(data_dir=CACHE / "compreface-similarity")
    threshold = settings.matching.threshold
    protocol = ident.build_protocol(require(LFW / "images"))
    run = Run(settings=settings, cache_dir=CACHE / "compreface-similarity-descriptors")
    enrolled = [path for paths in protocol.enrolled.values() for path in paths]
    vectors = {**run.describe(enrolled, "enrol"),
               **run.describe([path for _, path in protocol.mated + protocol.non_mated])}
    scores = OpenSetScores.compute(protocol, vectors, rule=rule,
                                   cohort=CohortRule(size=settings.matching.cohort_size))

    def similar(values: Any) -> np.typing.NDArray[np.float64]:
        return np.array([similarity(v, threshold) if np.isfinite(v) else 0.0 for v in values])

    strangers, mated = similar(scores.non_mated), similar(scores.mated)
    cut = COMPREFACE_AT_THRESHOLD
    return {
        "rule": rule, "threshold": threshold, "similarity_cut": cut,
        "enrolled": len(protocol.enrolled), "mated_probes": len(scores.mated),
        "strangers": len(scores.non_mated),
        "strangers_no_face": int(np.sum(~np.isfinite(scores.non_mated))),
        "strangers_under_cut": float(np.mean(strangers < cut)),
        "strangers_facegate_unknown": float(np.mean(scores.non_mated > threshold)),
        "mated_at_cut_right_subject": float(np.mean(scores.correct & (mated >= cut))),
        "mated_facegate_match": float(np.mean(scores.correct & (scores.mated <= threshold))),
        "mated_at_cut_any_subject": float(np.mean(mated >= cut)),
        "decisions_differing": int(np.sum((strangers < cut) != (scores.non_mated > threshold))
                                   + np.sum((mated >= cut) != (scores.mated <= threshold))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rule", default="", help="cohort or distance [matching.rule]")
    rule = parser.parse_args().rule or Settings().matching.rule
    facts = machine()
    found = measure(rule)
    pct = lambda share: f"{share * 100:.2f}%"  # noqa: E731
    rows = [
        ["strangers (non-mated probes)", found["strangers"],
         pct(found["strangers_under_cut"]), pct(found["strangers_facegate_unknown"])],
        ["mated probes, right person", found["mated_probes"],
         pct(found["mated_at_cut_right_subject"]), pct(found["mated_facegate_match"])],
    ]
    tables = [
        f"LFW open set, rule `{rule}`, threshold {found['threshold']}, {found['enrolled']} "
        f"people enrolled; similarity cut {found['similarity_cut']} (Double Take's match).",
        table(["probes", "count", "client: similarity < / >= 0.60", "facegate: unknown / match"],
              rows),
        f"Decisions that differ between the two: {found['decisions_differing']}. Strangers "
        f"without a face (code 28 for CompreFace's clients): {found['strangers_no_face']}.",
    ]
    path = write_results(f"compreface_similarity-{rule}",
                         title="CompreFace similarity vs facegate's open-set rule (LFW)",
                         facts=facts, tables=tables, data=found)
    print("\n\n".join(tables))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
