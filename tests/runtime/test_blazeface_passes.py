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
    Crop,
)
from facegate.runtime.mediapipe_weights import BLAZEFACE_BACK, BLAZEFACE_FULL, BLAZEFACE_SHORT


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


def face_crop(faces: Path, name: str, side: int = 150) -> np.ndarray:
    """An LFW-style crop: the face's box widened 1.6x, scaled to ``side`` square pixels."""
    photo = rgb(faces, name)
    (found,) = BlazeFacePasses([BlazeFace(BLAZEFACE_FULL, min_score=CANDIDATE_SCORE)],
                               min_score=0.5).detections(photo)
    x0, y0, x1, y1 = found.corners
    half = 0.8 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    box = tuple(round(v) for v in (cx - half, cy - half, cx + half, cy + half))
    with Image.fromarray(photo) as image:
        return np.asarray(image.crop(box).resize((side, side), Image.Resampling.BILINEAR))


def test_face_crops_are_found_by_the_crop_model_alone_in_the_same_place(
        faces: Path, models: tuple[BlazeFace, BlazeFace, Counting]) -> None:
    full, back, _ = models
    short = Counting(BLAZEFACE_SHORT, min_score=CANDIDATE_SCORE)
    whole = [Counting(BLAZEFACE_FULL, min_score=CANDIDATE_SCORE),
             Counting(BLAZEFACE_BACK, min_score=CANDIDATE_SCORE)]
    cropped = BlazeFacePasses(whole, min_score=0.9, crop=Crop(short, 320, 0.75))
    passes = BlazeFacePasses([full, back], min_score=0.5)
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg"):
        crop = face_crop(faces, name)
        (by_crop, score), = cropped.detect(crop)
        (by_passes, _), = passes.detect(crop)
        assert score >= 0.75 and sum(m.passes for m in whole) == 0, name
        # the box the 5-point landmarks get moves by a few pixels at most (150 px crop)
        landmark_box = mapped_box(by_crop, LANDMARK_BOX)
        for now, then in zip(astuple(landmark_box), astuple(mapped_box(by_passes, LANDMARK_BOX)),
                             strict=True):
            assert abs(now - then) <= 0.1 * landmark_box.width, (name, by_crop, by_passes)
    # a large photo never goes by the crop model; a small photo it sees no face in gets the passes
    short.passes = 0
    assert len(cropped.detect(rgb(faces, "obama.jpg"))) == 1 and short.passes == 0
    assert [m.passes for m in whole] == [1, 1]
    assert cropped.detect(np.full((200, 200, 3), 90, dtype=np.uint8)) == []
    assert short.passes == 1 and [m.passes for m in whole] == [2, 2]
