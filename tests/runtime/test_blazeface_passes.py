"""BlazeFace passes on registry photos: tiles only for small faces, WIDER-style boxes, and the
dlib box the landmarks get unchanged by the reporting box."""

from __future__ import annotations

from dataclasses import astuple
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facegate.pipeline.detect import mapped_box
from facegate.runtime.blazeface import DLIB_BOX, BlazeFace, Detection
from facegate.runtime.blazeface_passes import (
    CANDIDATE_SCORE,
    LANDMARK_BOX,
    WIDER_ASPECT,
    BlazeFacePasses,
)
from facegate.runtime.mediapipe_weights import BLAZEFACE_BACK, BLAZEFACE_FULL


class Counting(BlazeFace):
    """BlazeFace counting its passes."""

    passes = 0

    def square(self, rgb: np.ndarray, x: int, y: int, side: int, *,
               centred: bool = False) -> list[Detection]:
        self.passes += 1
        return super().square(rgb, x, y, side, centred=centred)


@pytest.fixture(scope="module")
def models() -> tuple[BlazeFace, BlazeFace, Counting]:
    return (BlazeFace(BLAZEFACE_FULL, min_score=CANDIDATE_SCORE),
            BlazeFace(BLAZEFACE_BACK, min_score=CANDIDATE_SCORE),
            Counting(BLAZEFACE_BACK, min_score=CANDIDATE_SCORE))


def rgb(faces: Path, name: str) -> np.ndarray:
    with Image.open(faces / name) as photo:
        return np.asarray(photo.convert("RGB"))


def test_tiles_run_only_when_the_whole_photo_shows_small_faces(
        faces: Path, models: tuple[BlazeFace, BlazeFace, Counting]) -> None:
    full, back, tiles = models
    passes = BlazeFacePasses([full, back], tiles, tiles=2, tile_below=0.1, min_score=0.87)
    (face,) = passes.detect(rgb(faces, "obama.jpg"))
    assert tiles.passes == 0 and face[1] >= 0.87
    assert len(passes.detect(rgb(faces, "group6.jpg"))) == 6
    assert tiles.passes == 6  # 3x2 tiles of the 1280x886 group photo
    assert passes.detect(np.zeros((480, 640, 3), dtype=np.uint8)) == []


def test_faces_are_reported_taller_and_landmarks_get_the_same_dlib_box(
        faces: Path, models: tuple[BlazeFace, BlazeFace, Counting]) -> None:
    full, back, _ = models
    passes = BlazeFacePasses([full], None, min_score=0.7)
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg"):
        (found,) = passes.detections(rgb(faces, name))
        (reported, _), = passes.detect(rgb(faces, name))
        assert reported.height / reported.width == pytest.approx(WIDER_ASPECT, abs=0.03)
        dlib_then = mapped_box(Detection(found.corners, found.keypoints, 0).box(), DLIB_BOX)
        dlib_now = mapped_box(reported, LANDMARK_BOX)
        for now, then in zip(astuple(dlib_now), astuple(dlib_then), strict=True):
            assert abs(now - then) <= 2, (name, dlib_now, dlib_then)
