"""Face detection: the Detector/Landmarker protocols and the strategy that runs them.

See ``FaceFinder`` for the order of attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from facegate.domain import Box, RGBImage
from facegate.pipeline.liveness.geometry import Landmarker68, Landmarks68

Point = tuple[float, float]


class Detector(Protocol):
    def detect(self, rgb: RGBImage, *, upsample: int) -> list[tuple[Box, float]]:
        """Face boxes (in ``rgb``'s pixels, possibly reaching outside it) with detector scores."""
        ...


class Landmarker(Protocol):
    def landmarks(self, rgb: RGBImage, box: Box) -> tuple[Point, ...]:
        """Five landmarks of the face in ``box``: eye corners and nose base."""
        ...


BoxMap = tuple[float, float, float, float]
#: The map that keeps a box as it is.
SAME_BOX: BoxMap = (0.0, 0.0, 1.0, 1.0)


def mapped_box(box: Box, mapping: BoxMap) -> Box:
    """``box`` with its centre moved by (dx * width, dy * height) and its width and height
    scaled by (sx, sy): ``mapping`` = (dx, dy, sx, sy)."""
    dx, dy, sx, sy = mapping
    cx = (box.left + box.right) / 2 + dx * box.width
    cy = (box.top + box.bottom) / 2 + dy * box.height
    half_w, half_h = sx * box.width / 2, sy * box.height / 2
    return Box(round(cx - half_w), round(cy - half_h), round(cx + half_w), round(cy + half_h))


@dataclass(frozen=True, slots=True)
class BoxMapped:
    """A Landmarker that hands ``landmarker`` each box mapped by ``mapping``: a landmark model
    trained on another detector's boxes (dlib's) gets the box that detector would draw."""

    landmarker: Landmarker
    mapping: BoxMap

    def landmarks(self, rgb: RGBImage, box: Box) -> tuple[Point, ...]:
        return self.landmarker.landmarks(rgb, mapped_box(box, self.mapping))


@dataclass(frozen=True, slots=True)
class BoxMapped68:
    """``BoxMapped`` for a 68-point landmarker (liveness: ``pipeline.liveness.Landmarker68``)."""

    landmarker: Landmarker68
    mapping: BoxMap

    def landmarks68(self, rgb: RGBImage, box: Box) -> Landmarks68:
        return self.landmarker.landmarks68(rgb, mapped_box(box, self.mapping))


@dataclass(frozen=True, slots=True)
class FaceFinder:
    """Finds face boxes in original-photo pixels (a box may reach past the photo's edge).

    0. A fast pass: HOG at about ``fast_side``: on a copy no longer than that, and upsampled
       once when the photo is at most half of it. It sees faces of at least ~1/6 of a large
       photo's longer side (the face an authentication photo holds) in a fraction of the full
       pass's time. When one face is wanted (enrol, verify: ``every_face=False``) and it finds
       exactly one, that is the answer, and small background faces are left alone. Otherwise
       the full pass below runs too (unless it would scan the same copy the same way), and each
       face both passes found keeps the fast pass's box, so a photo's main face gets the same
       box, landmarks and descriptor from every endpoint.
    1. HOG on a copy downscaled so its longer side is at most ``max_side``, upsampled once when
       that copy's longer side is at most ``upsample_below``.
    2. If nothing is found: HOG again on that copy padded with black by ``pad_retry`` of each side
       (tight face crops have no margin around the face, which HOG needs). Landmarks and chips are
       then taken on the original photo: dlib reads pixels outside a photo as black, so this is the
       same as working on the padded copy, without ever allocating it at full size.
    3. If still nothing and the photo is small (longer side at most ``fallback_max_side``, i.e.
       a face crop, not a scene): the ``fallback`` detector (dlib's CNN) on the photo itself, not
       upsampled: it finds every LFW crop HOG misses in ~0.1 s (upsampled or padded, 1-2 s).

    With a ``fast_detector`` (BlazeFace: one pass over the whole photo), step 0 runs it instead,
    on the photo downscaled to ``max_side``, only when one face is wanted; ``detector`` (BlazeFace
    with tiles) then runs steps 1-3 unless exactly one face was found. A face's box from the
    tiled pass is the score-weighted mean of every pass's candidates, so it may differ from the
    fast pass's by a few pixels (verify against identify of the same photo).

    A photo whose shorter side is below ``min_face_px`` cannot show a face of that size: it has
    no faces, and no detector sees it (dlib's CNN fails on sides under 10 px). A box whose centre
    lies outside the photo is not a face of it and is dropped.
    """

    detector: Detector
    fallback: Detector | None = None
    max_side: int = 1024
    upsample_below: int = 800
    pad_retry: float = 0.5
    fallback_max_side: int = 320
    min_face_px: int = 20
    fast_side: int = 480
    fast_detector: Detector | None = None

    def locate(self, rgb: RGBImage, *, every_face: bool = True) -> list[tuple[Box, float]]:
        if min(rgb.shape[:2]) < self.min_face_px:
            return []
        longest = max(rgb.shape[:2])
        full_scale = min(1.0, self.max_side / longest)
        full_upsample = int(longest * full_scale <= self.upsample_below)
        if self.fast_detector is not None:
            return self._fast_first(rgb, full_scale, full_upsample, every_face)
        if self.fast_side <= 0:
            return self._full(rgb, full_scale, full_upsample)
        scale = min(1.0, self.fast_side / longest)
        upsample = int(2 * longest <= self.fast_side)
        if (scale, upsample) == (full_scale, full_upsample):  # the full pass, step 1
            return self._full(rgb, full_scale, full_upsample)
        small = rgb if scale == 1.0 else resize(rgb, scale)
        fast = self._kept(self.detector.detect(small, upsample=upsample), scale, small.shape)
        if len(fast) == 1 and not every_face:
            return fast
        return _merged(fast, self._full(rgb, full_scale, full_upsample))

    def _fast_first(self, rgb: RGBImage, scale: float, upsample: int,
                    every_face: bool) -> list[tuple[Box, float]]:
        if not every_face and self.fast_detector is not None:
            small = rgb if scale == 1.0 else resize(rgb, scale)
            fast = self._kept(self.fast_detector.detect(small, upsample=0), scale, small.shape)
            if len(fast) == 1:
                return fast
        return self._full(rgb, scale, upsample)

    def _full(self, rgb: RGBImage, scale: float, upsample: int) -> list[tuple[Box, float]]:
        small = rgb if scale == 1.0 else resize(rgb, scale)
        found = self.detector.detect(small, upsample=upsample)
        if not found and self.pad_retry > 0:
            pad_y, pad_x = (max(1, round(side * self.pad_retry / 2)) for side in small.shape[:2])
            padded = np.pad(small, ((pad_y, pad_y), (pad_x, pad_x), (0, 0)), mode="constant")
            found = self.detector.detect(padded, upsample=upsample)
            found = [(_moved(box, -pad_x, -pad_y), score) for box, score in found]
        if not found and self.fallback is not None \
                and max(rgb.shape[:2]) <= self.fallback_max_side:
            found = self.fallback.detect(small, upsample=0)
        return self._kept(found, scale, small.shape[:2])

    def _kept(self, found: list[tuple[Box, float]], scale: float,
              shape: tuple[int, ...]) -> list[tuple[Box, float]]:
        """Boxes (found on a copy of ``shape``) mapped back to original pixels, without those
        below ``min_face_px`` or centred outside the photo."""
        height, width = shape[:2]
        inside = [(box, score) for box, score in found
                  if 0 <= (box.left + box.right) / 2 < width
                  and 0 <= (box.top + box.bottom) / 2 < height]
        boxes = [(_scale_box(box, 1.0 / scale), score) for box, score in inside]
        return [
            (box, score) for box, score in boxes if min(box.width, box.height) >= self.min_face_px
        ]


def _merged(
    fast: list[tuple[Box, float]], full: list[tuple[Box, float]]
) -> list[tuple[Box, float]]:
    """The full pass's faces, each replaced by the fast pass's box for the same face."""
    merged = [next((f for f in fast if iou(f[0], box) >= 0.5), (box, score))
              for box, score in full]
    return merged + [f for f in fast if f not in merged]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes, 0 to 1."""
    inter = Box(max(a.left, b.left), max(a.top, b.top), min(a.right, b.right),
                min(a.bottom, b.bottom)).area
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def _moved(box: Box, dx: int, dy: int) -> Box:
    return Box(box.left + dx, box.top + dy, box.right + dx, box.bottom + dy)


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
