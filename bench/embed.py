"""Milliseconds per face descriptor: dlib-bin's ResNet vs facegate's default embedder.

Both embed the same real aligned 150x150 chips, made from LFW dev images by facegate's own
pipeline, one face per call (batch 1) and 16 per call (batch 16). The first calls of each
embedder (model load, first allocations) are timed as warm-up and reported apart. Rounds
alternate which embedder goes first, so a change in the machine's load hits both alike.

    python -m bench.embed [--chips 64] [--rounds 2] [--warmup 2] [--seed 0]
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from bench.common import (
    LFW,
    default_embedder,
    lfw_dev_images,
    machine,
    ratio,
    require,
    sample,
    summary,
    table,
    timed_ms,
    write_results,
)

BATCHES = (1, 16)


def collect_chips(facegate: Any, count: int, *, seed: int) -> list[np.ndarray]:
    """Aligned chips of the largest face of seeded LFW dev images, until ``count`` are found."""
    chips: list[np.ndarray] = []
    for path in sample(lfw_dev_images(), len(lfw_dev_images()), seed=seed):
        _, faces, _ = facegate.recognition.detect(path.read_bytes())
        if faces:
            chips.append(faces[0].chip)
        if len(chips) == count:
            return chips
    raise SystemExit(f"only {len(chips)} chips found, {count} wanted")


def warm_up(embed: Any, chips: list[np.ndarray], calls: int) -> list[float]:
    """Milliseconds of the first call (batch 1, loads the model) and ``calls`` more, batch 16."""
    times = [timed_ms(embed, chips[:1])[0]]
    times += [timed_ms(embed, chips[:16])[0] for _ in range(calls)]
    return [round(t, 1) for t in times]


def measure(embedders: dict[str, Any], chips: list[np.ndarray], *, rounds: int,
            batch: int) -> dict[str, list[float]]:
    """Milliseconds per face of every call, per embedder."""
    per_face: dict[str, list[float]] = {name: [] for name in embedders}
    names = list(embedders)
    for round_no in range(rounds):
        for name in names if round_no % 2 == 0 else names[::-1]:
            for start in range(0, len(chips) - batch + 1, batch):
                ms, _ = timed_ms(embedders[name], chips[start:start + batch])
                per_face[name].append(ms / batch)
    return per_face


def min_cosine(embedders: dict[str, Any], chips: list[np.ndarray]) -> float:
    """Smallest cosine similarity between the two embedders' descriptors of the same chip."""
    first, second = (embed(chips) for embed in embedders.values())
    dots = np.sum(first * second, axis=1)
    norms = np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1)
    return float(np.min(dots / norms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chips", type=int, default=64, help="aligned chips (at least 16)")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the chips per batch")
    parser.add_argument("--warmup", type=int, default=2, help="batch-16 warm-up calls")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    require(LFW)
    facts = machine()

    from facegate.bootstrap import build
    from facegate.config import Settings
    from facegate.runtime.dlib_backend import DlibModels

    # The CNN fallback (seconds per crop) only slows chip collection down; HOG finds plenty.
    settings = Settings(storage={"url": "memory://"}, detection={"fallback_max_side": 0})
    facegate = build(settings)
    chips = collect_chips(facegate, max(args.chips, 16), seed=args.seed)
    ours = default_embedder(facegate)
    label = f"facegate ({type(ours).__name__}, {ours.model_name})"
    embedders = {"dlib-bin": DlibModels().embed, "facegate": ours.embed}
    warmups = {name: warm_up(embed, chips, args.warmup) for name, embed in embedders.items()}
    results = {batch: {name: summary(ms) for name, ms in
                       measure(embedders, chips, rounds=args.rounds, batch=batch).items()}
               for batch in BATCHES}
    cosine = min_cosine(embedders, chips)

    rows = [[batch, r["dlib-bin"]["p50"], r["dlib-bin"]["mean"], r["facegate"]["p50"],
             r["facegate"]["mean"], ratio(r["dlib-bin"]["p50"], r["facegate"]["p50"]),
             ratio(r["dlib-bin"]["mean"], r["facegate"]["mean"]), r["facegate"]["n"]]
            for batch, r in results.items()]
    main_table = table(["batch", "dlib-bin p50 ms/face", "dlib-bin mean", "facegate p50 ms/face",
                        "facegate mean", "speed-up p50", "speed-up mean", "calls each"], rows)
    warm_table = table(["embedder", "first call, batch 1 (ms, loads model)",
                        f"then {args.warmup} x batch 16 (ms per call)"],
                       [[name, times[0], ", ".join(map(str, times[1:]))]
                        for name, times in warmups.items()])
    notes = (f"facegate embedder: {label}. {len(chips)} real aligned LFW chips, "
             f"{args.rounds} rounds, seed {args.seed}; warm-up excluded from the table above. "
             f"Lowest cosine similarity dlib-bin vs facegate over the chips: {cosine:.6f}.")
    print(main_table, warm_table, notes, sep="\n\n")
    path = write_results(
        "embed", title="bench/embed: ms per face descriptor, dlib-bin vs facegate", facts=facts,
        tables=[main_table, "Warm-up (excluded above):", warm_table, notes],
        data={"config": vars(args), "facegate_embedder": label, "chips": len(chips),
              "results_ms_per_face": {str(b): r for b, r in results.items()},
              "warmup_ms": warmups, "min_cosine_similarity": round(cosine, 6)},
    )
    print(f"\nwrote {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
