"""ONNX Runtime against dlib on real aligned chips from ``../shared/faces/lfw``: 160 in CI
(``FACEGATE_PARITY_CHIPS`` chooses another count; docs/runtime.md's 520-chip row is
``FACEGATE_PARITY_CHIPS=520 pytest tests/test_onnx_parity.py -s``).

Chips come from facegate's own pipeline (decode, detect, landmarks, dlib's face chip), sampled
evenly over the sorted images (so over many identities). Every chip's two descriptors must agree
to cosine similarity 0.9999 or better and within Euclidean distance 1e-3; the aggregate figures
(never a descriptor) are printed for docs/runtime.md (run with ``-s`` to see them). dlib's own
embedder costs ~0.15 s a chip, which is what the count is kept down for: the worst chip measured
so far is three orders of magnitude inside either bound.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from facegate.bootstrap import build, shared_models
from facegate.config import Settings
from facegate.domain import RGBImage
from facegate.runtime.onnx_backend import OnnxEmbedder

pytestmark = [pytest.mark.slow, pytest.mark.shared]

CHIPS_WANTED = int(os.environ.get("FACEGATE_PARITY_CHIPS", "160"))


@pytest.fixture(scope="module")
def lfw_chips(shared_faces: Path) -> list[RGBImage]:
    images = sorted((shared_faces / "lfw" / "images").rglob("*.jpg"))
    step = max(1, len(images) // (CHIPS_WANTED + 40))  # spread over many identities
    facegate = build(Settings(storage={"url": "memory://"}))
    chips: list[RGBImage] = []
    for path in images[::step]:
        _, faces, _ = facegate.recognition.detect(path.read_bytes())
        chips += [face.chip for face in faces]
        if len(chips) >= CHIPS_WANTED:
            break
    facegate.close()
    return chips


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> OnnxEmbedder:
    return OnnxEmbedder(cache_dir=tmp_path_factory.mktemp("models"))


def test_onnx_matches_dlib_on_lfw_chips(lfw_chips: list[RGBImage],
                                        embedder: OnnxEmbedder) -> None:
    assert len(lfw_chips) >= CHIPS_WANTED
    expected = np.concatenate([shared_models().embed(lfw_chips[i:i + 16])
                               for i in range(0, len(lfw_chips), 16)])
    found = np.concatenate([embedder.embed(lfw_chips[i:i + 16])
                            for i in range(0, len(lfw_chips), 16)])
    dot = (expected.astype(np.float64) * found).sum(axis=1)
    cosine = dot / np.linalg.norm(expected, axis=1) / np.linalg.norm(found, axis=1)
    worst_abs = float(np.abs(expected - found).max())
    worst_distance = float(np.linalg.norm(expected - found, axis=1).max())
    print(f"\nONNX vs dlib on {len(lfw_chips)} LFW chips: min cosine {cosine.min():.8f}, "
          f"max abs difference {worst_abs:.3g}, max Euclidean distance {worst_distance:.3g}")
    assert cosine.min() >= 0.9999
    assert worst_distance < 1e-3  # far below the 0.6 match threshold's resolution


def test_a_batch_of_16_equals_16_batches_of_one(lfw_chips: list[RGBImage],
                                                embedder: OnnxEmbedder) -> None:
    chips = lfw_chips[:16]
    batched = embedder.embed(chips)
    single = np.concatenate([embedder.embed([chip]) for chip in chips])
    print(f"\nbatch 16 vs batch 1: max abs difference {np.abs(batched - single).max():.3g}")
    np.testing.assert_allclose(batched, single, atol=1e-5)
