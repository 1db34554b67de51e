"""Verification accuracy on the LFW dev folds (../shared/faces/lfw), through facegate's own
pipeline with its default settings: every image must yield a face, and the 3000 pairs must be
decided correctly at the default threshold at least 98.0% of the time."""

from __future__ import annotations

import csv
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from facegate.bootstrap import build
from facegate.config import Settings
from facegate.errors import FacegateError

pytestmark = pytest.mark.slow

_FACEGATE = None


def _descriptor(path: str) -> tuple[str, np.ndarray | None, int]:
    """The photo's largest face's descriptor (None when no face), and how many faces."""
    global _FACEGATE
    if _FACEGATE is None:
        _FACEGATE = build(Settings(storage={"url": "memory://"}))
    try:
        _, faces, _ = _FACEGATE.recognition.embed(Path(path).read_bytes())
    except FacegateError:
        return path, None, 0
    return path, (faces[0].descriptor if faces else None), len(faces)


@pytest.fixture(scope="module")
def lfw(shared_faces: Path) -> tuple[list[tuple[str, str, bool]], dict[str, np.ndarray | None]]:
    root = shared_faces / "lfw"
    with open(root / "pairs.csv", newline="") as handle:
        pairs = [(str(root / r["path1"]), str(root / r["path2"]), r["same"] == "1")
                 for r in csv.DictReader(handle)]
    images = sorted({p for a, b, _ in pairs for p in (a, b)})
    workers = max(1, min(2, os.cpu_count() or 1))
    # spawn, not fork: this process runs server threads holding locks that a fork would copy.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=spawn) as pool:
        found = {path: vector for path, vector, _ in pool.map(_descriptor, images, chunksize=32)}
    return pairs, found


def test_every_lfw_image_yields_a_face(lfw: tuple[list, dict]) -> None:
    _, found = lfw
    missing = [Path(p).name for p, v in found.items() if v is None]
    assert len(found) == 3811
    assert missing == []


def test_lfw_pairs_accuracy_at_default_threshold(lfw: tuple[list, dict]) -> None:
    pairs, found = lfw
    threshold = Settings().matching.threshold
    correct = 0
    for first, second, same in pairs:
        a, b = found[first], found[second]
        # A missing face counts as a wrong answer, never silently dropped.
        if a is None or b is None:
            continue
        distance = float(np.linalg.norm(a.astype(np.float64) - b.astype(np.float64)))
        correct += (distance <= threshold) == same
    accuracy = correct / len(pairs)
    print(f"LFW dev pairs: {correct}/{len(pairs)} = {accuracy:.4f} at threshold {threshold}")
    assert len(pairs) == 3000
    assert accuracy >= 0.980
