"""Face detection: the Detector/Landmarker protocols and the strategy that runs them.

The strategy (``FaceFinder``) detects on a downscaled copy of large photos, upsamples small ones so
faces down to about 40 px are found, and, when nothing is found, retries on a padded copy: a photo
that is itself a tight face crop (the LFW crops) has no margin around the face, which HOG needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from facegate.domain import Box, RGBImage

Point = tuple[float, float]


class Detector(Protocol):
    def detect(self, rgb: RGBImage, *, upsample: int) -> list[tuple[Box, float]]:
        """Face boxes (in ``rgb``'s pixels, possibly reaching outside it) with detector scores."""
        ...


class Landmarker(Protocol):
    def landmarks(self, rgb: RGBImage, box: Box) -> tuple[Point, ...]:
        """Five landmarks of the face in ``box``: eye corners and nose base."""
        ...


@dataclass(frozen=True, slots=True)
class Located:
    """Faces found in ``work``: the original photo, or a padded copy of it.

    Boxes are in ``work`` pixels; subtract ``offset`` to get original-photo pixels.
    """

    work: RGBImage
    offset: int
    boxes: list[tuple[Box, float]]


@dataclass(frozen=True, slots=True)
class FaceFinder:
    detector: Detector
    max_side: int = 1024
    upsample_below: int = 800
    pad_retry: float = 0.5
    min_face_px: int = 20

    def locate(self, rgb: RGBImage) -> Located:
        boxes = self._detect_scaled(rgb)
        if boxes or self.pad_retry <= 0:
            return Located(work=rgb, offset=0, boxes=boxes)
        pad = max(1, round(max(rgb.shape[:2]) * self.pad_retry / 2))
        padded = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="constant")
        return Located(work=padded, offset=pad, boxes=self._detect_scaled(padded))

    def _detect_scaled(self, rgb: RGBImage) -> list[tuple[Box, float]]:
        long_side = max(rgb.shape[:2])
        scale = min(1.0, self.max_side / long_side)
        small = rgb if scale == 1.0 else resize(rgb, scale)
        upsample = 1 if max(small.shape[:2]) <= self.upsample_below else 0
        found = self.detector.detect(small, upsample=upsample)
        boxes = [(_scale_box(box, 1.0 / scale), score) for box, score in found]
        return [
            (box, score)
            for box, score in boxes
            if min(box.width, box.height) >= self.min_face_px
        ]


def resize(rgb: RGBImage, scale: float) -> RGBImage:
    from PIL import Image

    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(resized, dtype=np.uint8)


def _scale_box(box: Box, factor: float) -> Box:
    if factor == 1.0:
        return box
    return Box(
        left=round(box.left * factor),
        top=round(box.top * factor),
        right=round(box.right * factor),
        bottom=round(box.bottom * factor),
    )


def clip_box(box: Box, *, width: int, height: int) -> Box:
    return Box(
        left=min(max(box.left, 0), width),
        top=min(max(box.top, 0), height),
        right=min(max(box.right, 0), width),
        bottom=min(max(box.bottom, 0), height),
    )
