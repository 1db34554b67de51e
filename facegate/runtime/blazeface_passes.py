"""BlazeFace passes combined: whole-photo passes of several models, tiles only when they hint at
small faces, one score per face from every pass that saw it, WIDER-style boxes.

Measured on ``../shared/faces/detection`` (bench/detect, docs/accuracy.md), every choice fitted on
one half of the photos and checked on the other:

- **Whole photo**: full-range (192 px) and back-camera (256 px) models. The back model alone finds
  more faces of 64 px or more; together they find more than either.
- **Tiles** (``BlazeFace.tile_squares``, 1/``tiles`` of the longer side) with the back model, but
  only when a whole-photo candidate (any score from ``CANDIDATE_SCORE``) is narrower than
  ``tile_below`` of the longer side: a photo of one large face (the 720p benchmark photo, a
  selfie, an LFW crop) costs the two whole-photo passes only; crowds get the tiles.
- **Score**: candidates of every pass are clustered as MediaPipe's weighted NMS does (IoU > 0.3;
  box and keypoints the score-weighted mean), and a cluster's score is the noisy-or of the best
  score of each pass kind (whole full-range, whole back, tiles) that saw it: ``1 - prod(1 - s)``.
  A face two passes agree on outranks a texture one pass liked, which is what lets a 0.1 false
  positives per photo budget keep more faces than the best single score does.
- **Boxes**: every candidate box is first brought to the full-range model's convention
  (``TO_FULL``: the back model's box is 0.954x as large and 0.044 widths lower, medians on the
  fitting half), so the dlib box the landmarks get (``DLIB_BOX``) is the one the full-range
  model's box always mapped to. Faces are then *reported* with ``WIDER_BOX``: BlazeFace's box is
  square, human-drawn face boxes (WIDER FACE) are taller: the same area at height/width
  ``WIDER_ASPECT`` (1.292), centre ``WIDER_SHIFT`` (0.032) of a height higher, both medians over
  the fitting half's matches. ``LANDMARK_BOX`` maps a reported box to the dlib box.
- **Face crops** (``crop_model``, photos no longer than ``crop_side``: an LFW crop, a cropped
  selfie): the short-range model (128 px, a third of the whole-photo passes' cost) runs alone
  first, and its faces scoring ``crop_min_score`` or more are the answer; when it finds none, the
  passes above run as they would. Its box is brought to the box those passes give the same face
  (``CROP_BOX``: median over the even-numbered LFW dev crops both find one face in; the odd half
  gives the same map within 0.003), so the 5-point landmarks, chips and descriptors stay where
  they were. On LFW dev crops its best score is >= 0.75 on about 97% (median 0.90); on
  non-face photos (``../shared/faces/negatives`` downscaled to 150-320 px) at most 0.59, on 3x2
  tiles of them 4 of 292 reach 0.75 (docs/accuracy.md).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facegate.config import RuntimeSettings
from facegate.config_detection import DetectionSettings
from facegate.domain import Box, RGBImage
from facegate.runtime.blazeface import (
    DLIB_BOX,
    BlazeFace,
    Detection,
    Floats,
    tile_squares,
    weighted_nms,
)
from facegate.runtime.blazeface import _ious as ious
from facegate.runtime.mediapipe_weights import (
    BLAZEFACE_BACK,
    BLAZEFACE_FULL,
    BLAZEFACE_SHORT,
    MediapipeWeight,
)

BoxMap = tuple[float, float, float, float]
#: One pass: model, kind, the square (x, y, side), whether it is the whole photo letterboxed.
Pass = tuple[BlazeFace, str, int, int, int, bool]
#: ``detection.blazeface_whole`` / ``tile_model`` names.
BLAZEFACE_MODELS: dict[str, MediapipeWeight] = {
    "full": BLAZEFACE_FULL, "back": BLAZEFACE_BACK, "short": BLAZEFACE_SHORT}
#: Candidates below this (0-1) are not kept from any pass.
CANDIDATE_SCORE = 0.3
SUPPRESSION_IOU = 0.3
WIDER_ASPECT = 1.292
WIDER_SHIFT = 0.032
#: (dx, dy, sx, sy) as ``pipeline.detect.mapped_box``: the reported box from the full-range one.
WIDER_BOX: BoxMap = (0.0, -WIDER_SHIFT, 1.0 / math.sqrt(WIDER_ASPECT), math.sqrt(WIDER_ASPECT))
#: A model's box brought to the full-range model's box (the same face).
TO_FULL: dict[str, BoxMap] = {"blazeface_back": (-0.007, -0.046, 1.048, 1.048)}
#: The crop model's (short-range) box brought to the box the whole-photo passes give (a crop).
CROP_BOX: BoxMap = (-0.013, -0.119, 1.090, 1.090)


def after(first: BoxMap, then: BoxMap) -> BoxMap:
    """The map that is ``then`` applied to the box ``first`` gives."""
    dx1, dy1, sx1, sy1 = first
    dx2, dy2, sx2, sy2 = then
    return dx1 + dx2 * sx1, dy1 + dy2 * sy1, sx1 * sx2, sy1 * sy2


def inverse(mapping: BoxMap) -> BoxMap:
    dx, dy, sx, sy = mapping
    return -dx / sx, -dy / sy, 1.0 / sx, 1.0 / sy


#: The dlib box from a reported (``WIDER_BOX``) box.
LANDMARK_BOX: BoxMap = after(inverse(WIDER_BOX), DLIB_BOX)


def mapped_corners(corners: Floats, mapping: BoxMap) -> Floats:
    dx, dy, sx, sy = mapping
    width, height = corners[2] - corners[0], corners[3] - corners[1]
    cx = (corners[0] + corners[2]) / 2 + dx * width
    cy = (corners[1] + corners[3]) / 2 + dy * height
    half_w, half_h = sx * width / 2, sy * height / 2
    return np.array([cx - half_w, cy - half_h, cx + half_w, cy + half_h])


@dataclass(frozen=True, slots=True)
class Candidate:
    detection: Detection
    kind: str


def fused_nms(found: list[Candidate], threshold: float = SUPPRESSION_IOU) -> list[Detection]:
    """Weighted NMS whose cluster score is the noisy-or of each pass kind's best score."""
    remaining = sorted(found, key=lambda c: -c.detection.score)
    kept: list[Detection] = []
    while remaining:
        overlaps = ious(remaining[0].detection.corners,
                        np.array([c.detection.corners for c in remaining]))
        cluster = [c.detection for c, o in zip(remaining, overlaps, strict=True) if o > threshold]
        best: dict[str, float] = {}
        for c, o in zip(remaining, overlaps, strict=True):
            if o > threshold:
                best[c.kind] = max(best.get(c.kind, 0.0), c.detection.score)
        remaining = [c for c, o in zip(remaining, overlaps, strict=True) if o <= threshold]
        weights = np.array([d.score for d in cluster])[:, np.newaxis]
        total = float(weights.sum())
        corners = (np.array([d.corners for d in cluster]) * weights).sum(axis=0) / total
        points = (np.array([d.keypoints for d in cluster]) * weights[:, :, np.newaxis]).sum(
            axis=0) / total
        kept.append(Detection(corners, points, 1.0 - math.prod(1.0 - s for s in best.values())))
    return kept


class BlazeFacePasses:
    """The ``Detector`` of ``detection.detector = blazeface`` (see the module docstring):
    ``detect`` gives WIDER-style boxes (``WIDER_BOX``) scoring at least ``min_score``."""

    def __init__(self, whole: Sequence[BlazeFace], tile_model: BlazeFace | None = None, *,
                 tiles: int = 2, tile_below: float = 0.1, min_score: float = 0.9,
                 crop: Crop | None = None, lanes: int = 1) -> None:
        self.whole, self.tile_model, self.tiles = tuple(whole), tile_model, tiles
        self.tile_below, self.min_score, self.crop = tile_below, min_score, crop
        self.lanes = lanes

    def warm_up(self) -> None:
        for model in (*self.whole, *((self.tile_model,) if self.tile_model else ()),
                      *((self.crop.model,) if self.crop else ())):
            model.warm_up()

    def detect(self, rgb: RGBImage, *, upsample: int = 0) -> list[tuple[Box, float]]:
        return [(_box(mapped_corners(d.corners, WIDER_BOX)), d.score)
                for d in self.detections(rgb)]

    def detections(self, rgb: RGBImage) -> list[Detection]:
        """Faces in full-range box convention (before ``WIDER_BOX``), scores fused."""
        height, width = rgb.shape[:2]
        side = max(height, width)
        if self.crop is not None and side <= self.crop.max_side:
            cropped = self.crop.faces(rgb)
            if cropped:
                return cropped
        found = self._run([(model, model.weight.key, 0, 0, side, True)
                           for model in self.whole], rgb)
        if self.tile_model is not None and self.tiles > 1 and self.small_hint(found, side):
            found.extend(self._run([(self.tile_model, "tiles", x, y, square, False) for x, y, square
                                    in tile_squares(height, width, self.tiles)], rgb))
        return [d for d in fused_nms(found) if d.score >= self.min_score]

    def _run(self, squares: list[Pass], rgb: RGBImage) -> list[Candidate]:
        """Every pass's candidates; side by side on ``lanes`` threads when there are several
        (ONNX Runtime lets go of the GIL: on 2 cores two 1-thread passes at once beat one
        2-thread pass after the other)."""
        def one(square: Pass) -> list[Candidate]:
            model, kind, x, y, size, centred = square
            return [Candidate(_to_full(d, model), kind)
                    for d in model.square(rgb, x, y, size, centred=centred)
                    if d.score >= CANDIDATE_SCORE]

        if self.lanes > 1 and len(squares) > 1:
            return [c for part in _pool(self.lanes).map(one, squares) for c in part]
        return [c for square in squares for c in one(square)]

    def small_hint(self, found: list[Candidate], side: int) -> bool:
        """Whether a whole-photo candidate is narrow enough to ask for tiles."""
        return any(c.detection.corners[2] - c.detection.corners[0] < self.tile_below * side
                   for c in found)


@dataclass(frozen=True, slots=True)
class Crop:
    """The face-crop path: ``model`` alone over photos no longer than ``max_side``."""

    model: BlazeFace
    max_side: int = 320
    min_score: float = 0.75

    def faces(self, rgb: RGBImage) -> list[Detection]:
        """Faces scoring ``min_score`` or more, boxes brought by ``CROP_BOX``."""
        side = max(rgb.shape[:2])
        found = [d for d in self.model.square(rgb, 0, 0, side, centred=True)
                 if d.score >= CANDIDATE_SCORE]
        return [Detection(mapped_corners(d.corners, CROP_BOX), d.keypoints, d.score)
                for d in weighted_nms(found) if d.score >= self.min_score]


@functools.cache
def _pool(lanes: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="blazeface")


def models(runtime: RuntimeSettings, threads: int) -> Callable[[str], BlazeFace]:
    """BlazeFace models by name (``BLAZEFACE_MODELS``), one per process and runtime, giving
    every candidate from ``CANDIDATE_SCORE``."""
    return functools.partial(_model, providers=tuple(runtime.providers), threads=threads,
                             cache_dir=runtime.model_cache)


@functools.cache
def _model(name: str, *, providers: tuple[str, ...], threads: int,
           cache_dir: Path | None) -> BlazeFace:
    return BlazeFace(BLAZEFACE_MODELS[name], min_score=CANDIDATE_SCORE, cache_dir=cache_dir,
                     providers=providers, intra_op_threads=threads)


def from_settings(detection: DetectionSettings, model: Callable[[str], BlazeFace], *,
                  tiles: bool, lanes: int = 1) -> BlazeFacePasses:
    """``detection``'s passes, ``model(name)`` giving each model (``tiles=False``: the
    whole-photo passes only), ``lanes`` of them at once."""
    tile_model = None if not tiles or detection.tile_model == "none" else model(
        detection.tile_model)
    crop = None if detection.crop_model == "none" or detection.crop_side <= 0 else Crop(
        model(detection.crop_model), detection.crop_side, detection.crop_min_score)
    return BlazeFacePasses([model(name) for name in detection.blazeface_whole], tile_model,
                           tiles=detection.tiles, tile_below=detection.tile_below,
                           min_score=detection.min_score, crop=crop, lanes=lanes)


def detectors(detection: DetectionSettings, runtime: RuntimeSettings,
              threads: int) -> tuple[BlazeFacePasses, BlazeFacePasses]:
    """``detection``'s passes with tiles and without (the fast pass), for callers that may use
    ``threads`` cores: the whole-photo passes side by side, each on its share of them."""
    lanes = max(1, min(threads, len(detection.blazeface_whole)))
    model = models(runtime, max(1, threads // lanes))
    return (from_settings(detection, model, tiles=True, lanes=lanes),
            from_settings(detection, model, tiles=False, lanes=lanes))


def _to_full(detection: Detection, model: BlazeFace) -> Detection:
    mapping = TO_FULL.get(model.weight.key)
    if mapping is None:
        return detection
    return Detection(mapped_corners(detection.corners, mapping), detection.keypoints,
                     detection.score)


def _box(corners: Floats) -> Box:
    x0, y0, x1, y1 = (round(float(v)) for v in corners)
    return Box(x0, y0, x1, y1)
