"""Scoring of face detectors on ``../shared/faces/detection`` (WIDER FACE val, dev split).

As the folder's README and ``baseline.md`` say: every image of ``images/`` is scored; a face's
size is sqrt(w*h) of its ground-truth box; detections are matched greedily in score order (each
takes the unmatched ground-truth box it overlaps most, IoU >= 0.5); a detection matching an
``ignore=1`` face is neither a hit nor a false positive, and such faces are never misses.
Greedy matching in score order does not change for the higher-scored detections when lower ones
are dropped, so one matching per detector gives recall at every score threshold: the threshold
of a false-positive budget is the lowest score that keeps false positives within it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BUCKETS = ((0, 16, "<16"), (16, 32, "16-32"), (32, 64, "32-64"), (64, 128, "64-128"),
           (128, 10**9, ">=128"))
SPANS = ((32, ">=32"), (64, ">=64"))
#: A found face: (x0, y0, x1, y1, score) in the photo's pixels.
Found = tuple[float, float, float, float, float]


@dataclass(frozen=True, slots=True)
class Truth:
    boxes: np.ndarray  # (n, 4) x0, y0, x1, y1
    sizes: np.ndarray  # (n,) sqrt(w*h)
    ignore: np.ndarray  # (n,) bool


def load_truth(folder: Path) -> dict[str, Truth]:
    rows: dict[str, list[list[float]]] = {p.name: [] for p in sorted((folder / "images").iterdir())}
    with (folder / "boxes.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            x, y, w, h = (float(row[k]) for k in ("x", "y", "w", "h"))
            rows.setdefault(row["image"], []).append([x, y, x + w, y + h, float(row["ignore"])])
    out = {}
    for name, faces in rows.items():
        a = np.array(faces, dtype=np.float64).reshape(-1, 5)
        sizes = np.sqrt((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))
        out[name] = Truth(a[:, :4], sizes, a[:, 4] > 0)
    return out


def _ious(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x1, y1 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = ((box[2] - box[0]) * (box[3] - box[1])
             + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter)
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def match(found: list[Found], truth: Truth, iou: float = 0.5) -> list[tuple[float, float]]:
    """(score, size of the face hit: 0 = false positive, -1 = an ignored face) per detection."""
    taken = np.zeros(len(truth.sizes), dtype=bool)
    out = []
    for f in sorted(found, key=lambda f: -f[4]):
        overlaps = _ious(np.array(f[:4]), truth.boxes) if len(truth.sizes) else np.zeros(0)
        overlaps = np.where(taken, -1.0, overlaps)
        best = int(np.argmax(overlaps)) if overlaps.size else -1
        if best < 0 or overlaps[best] < iou:
            out.append((f[4], 0.0))
            continue
        taken[best] = True
        out.append((f[4], -1.0 if truth.ignore[best] else float(truth.sizes[best])))
    return out


def scored(truths: dict[str, Truth], found: dict[str, list[Found]], *, fp_budget: float,
           iou: float = 0.5) -> dict[str, Any]:
    """Recall per size bucket (%), FP per image and precision, at all scores and at the lowest
    score threshold whose false positives stay within ``fp_budget`` per image."""
    hits = [m for name, truth in truths.items() for m in match(found.get(name, []), truth, iou)]
    sizes = np.concatenate([t.sizes[~t.ignore] for t in truths.values()])
    images = len(truths)
    allowed = int(fp_budget * images)
    order = sorted(hits, key=lambda h: -h[0])
    threshold, fps = -np.inf, 0
    for score, size in order:
        if size == 0.0:
            if fps + 1 > allowed:
                threshold = score + 1e-9  # this false positive is the first too many
                break
            fps += 1
    return {"all": _figures([h for h in hits], sizes, images),
            "budget": {**_figures([h for h in hits if h[0] >= threshold], sizes, images),
                       "threshold": None if threshold == -np.inf else round(float(threshold), 4),
                       "exact_threshold": -1.0 if threshold == -np.inf else float(threshold)}}


def halves(names: list[str]) -> tuple[list[str], list[str]]:
    """The photos split in two, per event, alternating in name order: a "fit" half that box
    maps and thresholds are fitted on, and a "check" half they are only evaluated on."""
    events: dict[str, list[str]] = {}
    for name in sorted(names):
        events.setdefault(name.split("_")[0], []).append(name)
    fit = [n for group in events.values() for n in group[0::2]]
    check = [n for group in events.values() for n in group[1::2]]
    return sorted(fit), sorted(check)


def split_scores(truths: dict[str, Truth], found: dict[str, list[Found]], *,
                 fp_budget: float) -> dict[str, Any]:
    """The budget's threshold picked on the fit half (``halves``), then figures of each half
    at that threshold."""
    fit, check = halves(list(truths))
    threshold = scored({n: truths[n] for n in fit}, found, fp_budget=fp_budget)["budget"][
        "exact_threshold"]
    out: dict[str, Any] = {"threshold": threshold}
    for label, names in (("fit", fit), ("check", check)):
        kept = {n: [f for f in found.get(n, []) if f[4] >= threshold] for n in names}
        out[label] = scored({n: truths[n] for n in names}, kept, fp_budget=fp_budget)["all"]
    return out


def _figures(hits: list[tuple[float, float]], sizes: np.ndarray, images: int) -> dict[str, Any]:
    found = np.array([size for _, size in hits if size > 0])
    fp = sum(1 for _, size in hits if size == 0.0)
    recall = {label: _recall(found, sizes, low, high) for low, high, label in BUCKETS}
    recall.update({label: _recall(found, sizes, low, 10**9) for low, label in SPANS})
    recall["all"] = _recall(found, sizes, 0, 10**9)
    true = len(found)
    return {"recall": recall, "fp": fp, "fp_per_image": round(fp / images, 3),
            "precision": round(100.0 * true / (true + fp), 1) if true + fp else None}


def _recall(found: np.ndarray, sizes: np.ndarray, low: float, high: float) -> float:
    total = int(((sizes >= low) & (sizes < high)).sum())
    hit = int(((found >= low) & (found < high)).sum()) if found.size else 0
    return round(100.0 * hit / total, 1) if total else 0.0
