"""Face detection: recall per face size at a false-positive budget, FP per photo, speed.

Detectors, in the same run: facegate's HOG as the server runs it by default
(``detection.detector = hog``: fast pass at 480 px + full pass at <= 1024 px, pad retry, CNN
fallback for photos <= 320 px, faces under 20 px dropped), the face_recognition library
(``face_locations``: dlib HOG, upsampled once; it gives no scores), and BlazeFace full-range on
ONNX Runtime (``runtime/blazeface.py``) over the whole photo, with tiles of 1/2 and 1/3 of the
longer side for small faces, and as facegate's ``FaceFinder`` runs it with
``detection.detector = blazeface`` (whole photo + tiles of half its longer side, score >= 0.7,
faces under 20 px dropped, BlazeFace's own boxes). The raw BlazeFace rows keep candidates
down to 0.3 so the budget picks their threshold. Scoring: ``detect_eval``. Detections are
cached in ``.cache/bench/detect/`` (``--reuse`` rescores them).

On ``../shared/faces/detection`` (264 WIDER FACE val photos, 2388 scored faces) and
``../shared/faces/negatives`` (20 photos without a face, counted at each detector's budget
threshold); ms per photo on the detection photos (``locate`` alone, decode apart) and on
``everyday/obama-{480p,720p,1080p}.jpg``.

    python -m bench.detect [--detectors hog,face_recognition,...] [--budget 0.1] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import CACHE, EVERYDAY, FACES, machine, require, summary, table, write_results
from bench.detect_eval import BUCKETS, SPANS, Found, load_truth, scored, split_scores

DETECTION = FACES / "detection"
NEGATIVES = FACES / "negatives"
SPEED = ("480p", "720p", "1080p")
Locate = Callable[[np.ndarray], list[Found]]


def _finder(**detection: Any) -> Locate:
    from facegate.bootstrap import face_reader
    from facegate.config import Settings

    finder = face_reader(Settings(detection=detection)).pipeline.finder

    def locate(rgb: np.ndarray) -> list[Found]:
        height, width = rgb.shape[:2]
        return [(max(b.left, 0), max(b.top, 0), min(b.right, width), min(b.bottom, height), s)
                for b, s in finder.locate(rgb, every_face=True)]

    return locate


def _face_recognition() -> Locate:
    import face_recognition as fr

    def locate(rgb: np.ndarray) -> list[Found]:
        return [(left, top, right, bottom, 1.0)
                for top, right, bottom, left in fr.face_locations(rgb)]

    return locate


def _blazeface(whole: tuple[str, ...], tile_model: str, *, tiles: int = 2,
               tile_below: float = 1.0, wider: bool = True) -> Locate:
    """BlazeFace passes (``runtime/blazeface_passes``) keeping every candidate from
    ``CANDIDATE_SCORE`` (the budget picks the threshold); ``wider=False``: BlazeFace's own box."""
    from facegate.runtime.blazeface import BlazeFace
    from facegate.runtime.blazeface_passes import (
        BLAZEFACE_MODELS,
        CANDIDATE_SCORE,
        WIDER_BOX,
        BlazeFacePasses,
        mapped_corners,
    )

    def model(name: str) -> BlazeFace:
        return BlazeFace(BLAZEFACE_MODELS[name], min_score=CANDIDATE_SCORE)

    passes = BlazeFacePasses([model(m) for m in whole],
                             model(tile_model) if tile_model != "none" else None, tiles=tiles,
                             tile_below=tile_below, min_score=CANDIDATE_SCORE)

    def locate(rgb: np.ndarray) -> list[Found]:
        found = passes.detections(rgb)
        return [(*(float(v) for v in (mapped_corners(d.corners, WIDER_BOX) if wider
                                       else d.corners)), d.score) for d in found]

    return locate


DEFAULT = "facegate blazeface"
DETECTORS: dict[str, Callable[[], Locate]] = {
    "hog (server default)": lambda: _finder(detector="hog"),
    "face_recognition": _face_recognition,
    "full (own box)": lambda: _blazeface(("full",), "none", wider=False),
    "full + full tiles (own box)": lambda: _blazeface(("full",), "full", wider=False),
    "full + full tiles": lambda: _blazeface(("full",), "full"),
    "back + back tiles": lambda: _blazeface(("back",), "back"),
    "full+back + full tiles": lambda: _blazeface(("full", "back"), "full"),
    "full+back + back tiles": lambda: _blazeface(("full", "back"), "back"),
    "full+back + back tiles if small": lambda: _blazeface(("full", "back"), "back",
                                                          tile_below=0.1),
    DEFAULT: lambda: _finder(detector="blazeface"),
}


def rgb_of(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def run_detector(name: str, limit: int | None) -> dict[str, Any]:
    locate = DETECTORS[name]()
    locate(rgb_of(EVERYDAY / "obama-480p.jpg"))  # load the models
    out: dict[str, Any] = {"found": {}, "ms": [], "negatives": {}, "speed": {},
                           "load_average": round(os.getloadavg()[0], 2)}
    for path in sorted((DETECTION / "images").iterdir())[:limit]:
        rgb = rgb_of(path)
        started = time.perf_counter()
        out["found"][path.name] = locate(rgb)
        out["ms"].append((time.perf_counter() - started) * 1000.0)
    for path in sorted(NEGATIVES.iterdir()):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            out["negatives"][path.name] = [f[4] for f in locate(rgb_of(path))]
    for size in SPEED:
        rgb = rgb_of(EVERYDAY / f"obama-{size}.jpg")
        times = []
        for _ in range(7):
            started = time.perf_counter()
            locate(rgb)
            times.append((time.perf_counter() - started) * 1000.0)
        out["speed"][size] = summary(times[2:])
    return out


def paired_speed(names: list[str], runs: int) -> tuple[str, dict[str, Any]]:
    """ms per ``locate`` of the everyday photos, the detectors alternating run by run (so
    both see the same load), warm-up apart."""
    locates = {name: DETECTORS[name]() for name in names}
    times: dict[str, dict[str, list[float]]] = {n: {s: [] for s in SPEED} for n in names}
    for size in SPEED:
        rgb = rgb_of(EVERYDAY / f"obama-{size}.jpg")
        for run in range(runs + 1):
            for name in names if run % 2 else names[::-1]:
                started = time.perf_counter()
                locates[name](rgb)
                if run:
                    times[name][size].append((time.perf_counter() - started) * 1000.0)
    data = {n: {s: summary(t) for s, t in by.items()} for n, by in times.items()}
    text = table(["detector (paired)", *(f"p50 ms {s}" for s in SPEED)],
                 [[n, *(data[n][s]["p50"] for s in SPEED)] for n in names])
    return text, data


def figures(name: str, raw: dict[str, Any], budget: float) -> dict[str, Any]:
    truths = load_truth(DETECTION)
    truths = {k: v for k, v in truths.items() if k in raw["found"]}
    found = {k: [tuple(f) for f in v] for k, v in raw["found"].items()}
    result = scored(truths, found, fp_budget=budget)  # type: ignore[arg-type]
    low = result["budget"]["threshold"] or -1.0
    negatives = sum(1 for scores in raw["negatives"].values() for s in scores if s >= low)
    halves = split_scores(truths, found, fp_budget=budget)  # type: ignore[arg-type]
    return {"detector": name, **result, "negative_faces": negatives, "halves": halves,
            "load_average": raw.get("load_average", "-"),
            "ms_per_photo": summary(raw["ms"]), "speed": raw["speed"]}


def rows(results: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    labels = [b[2] for b in BUCKETS] + [s[1] for s in SPANS]
    headers = ["detector", *(f"R {label}" for label in labels), "recall", "FP/img",
               "R >=32 / >=64 all scores", "FP/img all", "faces on negatives", "median ms",
               *(f"ms {s}" for s in SPEED), "load at run"]
    out = []
    for r in results:
        b, a = r["budget"], r["all"]
        out.append([r["detector"], *(b["recall"][label] for label in labels), b["recall"]["all"],
                    b["fp_per_image"], f"{a['recall']['>=32']} / {a['recall']['>=64']}",
                    a["fp_per_image"], r["negative_faces"], r["ms_per_photo"]["p50"],
                    *(r["speed"][s]["p50"] for s in SPEED), r["load_average"]])
    return headers, out


def half_rows(results: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Recall >= 32 / >= 64 and FP per photo of each half at the fit half's threshold."""
    headers = ["detector", "threshold (fit half)", *(f"{h} {c}" for h in ("fit", "check")
                                                      for c in ("R >=32", "R >=64", "FP/img"))]
    out = []
    for r in results:
        h = r["halves"]
        out.append([r["detector"], round(h["threshold"], 4),
                    *(v for half in ("fit", "check") for v in (
                        h[half]["recall"][">=32"], h[half]["recall"][">=64"],
                        h[half]["fp_per_image"]))])
    return headers, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    parser.add_argument("--budget", type=float, default=0.1, help="false positives per photo")
    parser.add_argument("--limit", type=int, default=None, help="first N photos only")
    parser.add_argument("--reuse", action="store_true", help="reuse cached detections")
    parser.add_argument("--paired", default=f"hog (server default),{DEFAULT}",
                        help="detectors timed alternately on the everyday photos ('' = none)")
    parser.add_argument("--paired-runs", type=int, default=10)
    args = parser.parse_args()
    require(DETECTION)
    facts = machine()
    cache = CACHE / "detect"
    cache.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.detectors.split(","):
        path = cache / (re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") + ".json")
        if args.reuse and path.exists():
            raw = json.loads(path.read_text())
        else:
            raw = run_detector(name, args.limit)
            path.write_text(json.dumps(raw))
        results.append(figures(name, raw, args.budget))
        print(table(*rows(results[-1:])), flush=True)
    headers, body = rows(results)
    text = table(headers, body)
    print(text)
    split = table(*half_rows(results))
    print(split)
    paired = paired_speed(args.paired.split(","), args.paired_runs) if args.paired else ("", {})
    print(paired[0])
    title = (f"Face detection on ../shared/faces/detection: recall (%) at <= {args.budget} false "
             f"positives per photo, IoU >= 0.5")
    write_results("detect", title=title, facts=facts, tables=[text, split, paired[0]],
                  data={"budget": args.budget, "limit": args.limit, "results": results,
                        "paired_speed": paired[1]})


if __name__ == "__main__":
    main()
