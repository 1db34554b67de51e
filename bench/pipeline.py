"""End to end, photo bytes → name: facegate vs the face_recognition library, 240p to 1080p.

Each run decodes, detects, aligns, embeds and matches the one face of the same Obama photo
(``../shared/faces/everyday/obama-<size>.jpg``) against a one-person gallery made from
``obama.jpg``: facegate with ``recognition.identify(bytes)``, face_recognition with
``load_image_file``, ``face_locations``, ``face_encodings`` and ``compare_faces``/``face_distance``
on the same bytes. facegate runs twice: ``identify`` (1:N, every face of the photo) and ``verify``
against the enrolled person (1:1, the authentication path: one face wanted, so detection may stop
after its fast pass). Warm-up runs are timed and reported apart; measured runs alternate which
library goes first.

    python -m bench.pipeline [--runs 20] [--warmup 2] [--sizes 240p,480p,720p,1080p]
"""

from __future__ import annotations

import argparse
import io
from statistics import median
from typing import Any

from bench.common import EVERYDAY, machine, ratio, require, summary, table, timed_ms, write_results

THRESHOLD = 0.6  # both libraries' default distance threshold


def facegate_runners(reference: bytes) -> dict[str, Any]:
    """``run(bytes) → (answer, stage timings)`` with facegate and a one-person gallery:
    identify (1:N) and verify against that person (1:1)."""
    from facegate.bootstrap import build
    from facegate.config import Settings

    facegate = build(Settings(storage={"url": "memory://"}))
    person = facegate.gallery.create_identity(name="obama")
    facegate.gallery.enroll_image(person.id, reference)

    def identify(data: bytes) -> tuple[str, dict[str, float]]:
        result = facegate.recognition.identify(data, threshold=THRESHOLD)
        names = [f.decision.identity.name if f.decision.identity else "unknown"
                 for f in result.faces]
        return ",".join(names) or "no face", result.timings.stages

    def verify(data: bytes) -> tuple[str, dict[str, float]]:
        result = facegate.recognition.verify_identity(data, person.id, threshold=THRESHOLD)
        return ("obama" if result.match else "unknown"), result.timings.stages

    return {"facegate identify": identify, "facegate verify": verify}


def baseline_runner(reference: bytes) -> Any:
    """``run(bytes) → answer`` with face_recognition and the same one-person gallery."""
    import face_recognition as fr

    known = fr.face_encodings(fr.load_image_file(io.BytesIO(reference)))[0]

    def run(data: bytes) -> str:
        image = fr.load_image_file(io.BytesIO(data))
        encodings = fr.face_encodings(image, fr.face_locations(image))
        names = []
        for encoding in encodings:
            fr.face_distance([known], encoding)
            match = fr.compare_faces([known], encoding, tolerance=THRESHOLD)[0]
            names.append("obama" if match else "unknown")
        return ",".join(names) or "no face"

    return run


def bench_size(data: bytes, runners: dict[str, Any], *, runs: int, warmup: int
               ) -> dict[str, Any]:
    out: dict[str, Any] = {name: {"ms": [], "warmup_ms": [], "answers": set()}
                           for name in runners}
    stages: dict[str, list[dict[str, float]]] = {name: [] for name in runners}
    for run_no in range(warmup + runs):
        names = list(runners) if run_no % 2 == 0 else list(runners)[::-1]
        for name in names:
            ms, answer = timed_ms(runners[name], data)
            if name.startswith("facegate"):
                answer, timings = answer
                stages[name].append(timings)
            out[name]["warmup_ms" if run_no < warmup else "ms"].append(ms)
            out[name]["answers"].add(answer)
    for entry in out.values():
        entry["answers"] = sorted(entry["answers"])
        entry["warmup_ms"] = [round(x, 1) for x in entry["warmup_ms"]]
        entry["summary"] = summary(entry.pop("ms"))
    for name, seen in stages.items():
        measured = seen[warmup:]
        if measured:
            out[name]["stages_p50_ms"] = {
                stage: round(median(s.get(stage, 0.0) for s in measured), 2)
                for stage in measured[0]
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="measured runs per size and library")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up runs (reported apart)")
    parser.add_argument("--sizes", default="240p,480p,720p,1080p")
    args = parser.parse_args()
    facts = machine()
    reference = require(EVERYDAY / "obama.jpg").read_bytes()
    runners = {"face_recognition": baseline_runner(reference), **facegate_runners(reference)}
    ours_names = [name for name in runners if name.startswith("facegate")]
    results: dict[str, Any] = {}
    for size in args.sizes.split(","):
        photo = require(EVERYDAY / f"obama-{size}.jpg")
        results[size] = bench_size(photo.read_bytes(), runners, runs=args.runs,
                                   warmup=args.warmup)
        print(f"{size}: done", flush=True)

    rows, warm_rows, stage_rows = [], [], []
    for size, r in results.items():
        base = r["face_recognition"]["summary"]
        for name in ours_names:
            ours = r[name]["summary"]
            rows.append([size, name, base["p50"], base["p95"], ours["p50"], ours["p95"],
                         ratio(base["p50"], ours["p50"]), ratio(base["p95"], ours["p95"]),
                         ",".join(r["face_recognition"]["answers"]) + " / "
                         + ",".join(r[name]["answers"])])
            stage_rows.append([size, name, ", ".join(
                f"{k} {v}" for k, v in r[name]["stages_p50_ms"].items())])
        warm_rows.append([size, *(", ".join(map(str, r[n]["warmup_ms"])) for n in runners)])
    main_table = table(["photo", "facegate call", "face_recognition p50 ms", "p95",
                        "facegate p50 ms", "p95", "speed-up p50", "speed-up p95",
                        "answers (fr / facegate)"], rows)
    warm_table = table(["photo", *(f"{n} warm-up ms" for n in runners)], warm_rows)
    stage_table = table(["photo", "facegate call", "p50 per stage (ms)"], stage_rows)
    notes = (f"{args.runs} measured runs per size and library after {args.warmup} warm-up runs; "
             f"threshold {THRESHOLD}; gallery: one person from obama.jpg.")
    print(main_table, warm_table, stage_table, notes, sep="\n\n")
    path = write_results(
        "pipeline", title="bench/pipeline: photo bytes → name, face_recognition vs facegate",
        facts=facts, tables=[main_table, "Warm-up runs (excluded above):", warm_table,
                             stage_table, notes],
        data={"config": vars(args), "results": results},
    )
    print(f"\nwrote {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
