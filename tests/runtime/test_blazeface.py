"""BlazeFace decoding on registry photos: anchors as the models' outputs, faces and keypoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facegate.runtime.blazeface import BlazeFace, anchors, tile_squares
from facegate.runtime.mediapipe_weights import BLAZEFACE_BACK, BLAZEFACE_FULL, BLAZEFACE_SHORT


@pytest.mark.parametrize(("weight", "count"), [(BLAZEFACE_FULL, 2304), (BLAZEFACE_SHORT, 896),
                                               (BLAZEFACE_BACK, 896)])
def test_anchors_match_the_models_outputs(weight: object, count: int) -> None:
    centres = anchors(weight)  # type: ignore[arg-type]
    assert centres.shape == (count, 2)
    assert centres.min() > 0 and centres.max() < 1


def test_tiles_cover_the_photo_and_overlap() -> None:
    squares = tile_squares(683, 1024, 2)  # steps of at most 3/4 of a side: 3 across, 2 down
    assert len(squares) == 6 and {side for _, _, side in squares} == {512}
    assert sorted({x for x, _, _ in squares}) == [0, 256, 512]
    assert max(x + side for x, _, side in squares) == 1024
    assert max(y + side for _, y, side in squares) == 683


def rgb(faces: Path, name: str) -> np.ndarray:
    with Image.open(faces / name) as photo:
        return np.asarray(photo.convert("RGB"))


def test_faces_with_eyes_and_nose_inside_their_boxes(faces: Path) -> None:
    model = BlazeFace(min_score=0.7, tiles=2)
    group = model.detections(rgb(faces, "group6.jpg"))
    assert len(group) == 6
    (single,) = model.detections(rgb(faces, "obama.jpg"))
    for face in [*group, single]:
        x0, y0, x1, y1 = face.corners
        for x, y in face.keypoints[:3]:  # eyes and nose tip
            assert x0 <= x <= x1 and y0 <= y <= y1
        right_eye, left_eye = face.keypoints[0], face.keypoints[1]
        assert right_eye[0] < left_eye[0]  # the person's right eye is on the image's left
    assert 0.7 <= single.score <= 1.0
    assert model.detections(np.zeros((480, 640, 3), dtype=np.uint8)) == []
