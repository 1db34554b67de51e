"""Test-time augmentation and the descriptor options, on a real photo with the real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facegate.bootstrap import face_reader
from facegate.config import Settings
from facegate.pipeline.augment import DESCRIPTOR_LENGTH, AugmentedEmbedder, combine, jittered
from facegate.pipeline.image import decode_image


def _settings(**sections: dict[str, object]) -> Settings:
    return Settings(storage={"url": "memory://"}, **sections)  # type: ignore[arg-type]


def _descriptor(settings: Settings, photo: Path) -> np.ndarray:
    """The photo's face as enrolment describes it (the enrolment views)."""
    faces = face_reader(settings).read_here(photo.read_bytes(), "enrol").faces
    assert len(faces) == 1
    return faces[0].descriptor


def test_jitter_is_deterministic_and_small(faces: Path) -> None:
    rgb = decode_image((faces / "obama.jpg").read_bytes(), max_bytes=10**8,
                       max_pixels=10**8).rgb[:150, :150]
    chip = np.ascontiguousarray(rgb)
    first, second = jittered(chip, 3), jittered(chip, 3)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert all(a.shape == chip.shape and not np.array_equal(a, chip) for a in first)
    # a few degrees and percent: most pixels stay close to the original
    assert all(np.median(np.abs(a.astype(int) - chip.astype(int))) < 40 for a in first)


def test_combine_averages_directions_at_dlibs_length() -> None:
    views = np.array([[[3.0, 0.0], [0.0, 1.0]]], dtype=np.float32)
    out = combine(views)
    assert out.shape == (1, 2)
    assert np.linalg.norm(out[0]) == pytest.approx(DESCRIPTOR_LENGTH, rel=1e-6)
    assert out[0, 0] == pytest.approx(out[0, 1])  # lengths do not weigh, directions do


def test_descriptor_options_change_descriptors_a_little_and_the_same_way_twice(
        faces: Path) -> None:
    plain = _settings(alignment={"landmarks": "5"}, augmentation={"flip": False, "jitter": 0})
    default = _settings()
    a, b = _descriptor(default, faces / "obama.jpg"), _descriptor(default, faces / "obama.jpg")
    assert np.array_equal(a, b)
    assert np.linalg.norm(a) == pytest.approx(DESCRIPTOR_LENGTH, rel=1e-4)
    raw = _descriptor(plain, faces / "obama.jpg")
    moved = float(np.linalg.norm(a - raw))
    assert 0.0 < moved < 0.25  # the same face, seen through more views
    other = _descriptor(default, faces / "biden.jpg")
    same = _descriptor(default, faces / "obama2.jpg")
    assert np.linalg.norm(a - same) < 0.6 < np.linalg.norm(a - other)
    reader = face_reader(default)
    enrol = reader.enrol_pipeline
    assert enrol is not None and isinstance(enrol.embedder, AugmentedEmbedder)
    assert enrol.embedder.views == 10 and enrol.align_both
    # probes get one view of the 5-point chip by default: the request path stays fast
    assert isinstance(reader.pipeline.embedder, AugmentedEmbedder)
    assert reader.pipeline.embedder.views == 1 and reader.pipeline.align_landmarker is None
