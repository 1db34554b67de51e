"""Real model inputs for the MediaPipe parity tests: registry photos, cropped as facegate crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facegate.bootstrap import shared_models
from facegate.domain import RGBImage
from facegate.runtime.face_mesh import Roi, box_roi, crop
from facegate.runtime.mediapipe_weights import MediapipeWeight

PHOTOS = ("obama.jpg", "obama2.jpg", "biden.jpg", "group6.jpg")


def load_photos(folder: Path) -> list[RGBImage]:
    return [np.asarray(Image.open(folder / name).convert("RGB")) for name in PHOTOS]


def model_inputs(weight: MediapipeWeight, photos: list[RGBImage]) -> list[NDArray[np.float32]]:
    """Batch-1 inputs of ``weight`` from real photos: face crops (mesh), eye crops around dlib's
    5-point eye corners (iris), whole photos letterboxed and scaled to [-1, 1] (detectors)."""
    size, inputs = weight.input_size, []
    for rgb in photos:
        if weight.role == "detector":
            height, width = rgb.shape[:2]
            whole = Roi((width - 1) / 2.0, (height - 1) / 2.0, float(max(width, height)))
            inputs.append(crop(rgb, whole, size) * 2.0 - 1.0)
            continue
        for box, _ in shared_models().detect(rgb, upsample=1):
            if weight.key == "face_mesh":
                inputs.append(crop(rgb, box_roi(box), size))
                continue
            points = np.asarray(shared_models().landmarks(rgb, box))
            for outer, inner in ((0, 1), (2, 3)):
                centre = (points[outer] + points[inner]) / 2.0
                span = float(np.abs(points[outer] - points[inner]).max())
                inputs.append(crop(rgb, Roi(float(centre[0]), float(centre[1]), span * 2.3), size))
    return [array[np.newaxis].astype(np.float32) for array in inputs]
