"""MediaPipe's BlazeFace detectors on ONNX Runtime, decoded as MediaPipe decodes them.

The models (``runtime/mediapipe_weights``: full-range 192 px, short-range 128 px, back-camera
256 px; Apache-2.0) take a square RGB tensor in [-1, 1] and give, per SSD anchor, 16 numbers
(box centre offset, width, height, six keypoints: the person's right eye, left eye, nose tip,
mouth, right and left tragion; in input pixels relative to the anchor centre) and one score
logit. As MediaPipe's ``face_detection_*_common.pbtxt`` graphs do: the photo is letterboxed
into the square (aspect kept, black bars), anchors come from ``SsdAnchorsCalculator`` options
(fixed anchor size, offset 0.5), scores are ``sigmoid(clip(logit, ±80))``, candidates under
``min_score`` are dropped, and overlapping ones (IoU > 0.3) are merged by *weighted* NMS: each
cluster's box and keypoints are the score-weighted mean of its members, its score the best one's.

Faces are reported with BlazeFace's own box, but dlib's landmark models (which align the
descriptor's chips) were trained on the boxes dlib's HOG draws: the pipeline hands them each box
mapped by ``DLIB_BOX`` (``pipeline.detect.BoxMapped``). BlazeFace's box is square and a little
larger. The map was fitted on 366 LFW dev photos both detectors find one face in
(medians of dlib's box relative to BlazeFace's: centre -0.010 w, +0.020 h; size 0.940 w,
0.948 h; spread of the size ratio 0.07).

``tiles``: besides the whole photo, square tiles of ``1/tiles`` of the longer side,
overlapping by a quarter or more (``tile_squares``: 3x2 on a 3:2 photo at 2), are run too, for
faces too small to see at 192 px over the whole photo; every pass's candidates are merged by the
same weighted NMS (measured in bench/detect: keeping the whole-photo pass's box for the faces it
found and letting tiles only add faces found 57.3% of faces >= 32 px against 62.5%, since a
small face's whole-photo box is coarse).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from facegate.domain import Box, RGBImage
from facegate.runtime.face_mesh import open_session
from facegate.runtime.mediapipe_weights import (
    BLAZEFACE_BACK,
    BLAZEFACE_FULL,
    BLAZEFACE_SHORT,
    MediapipeWeight,
)
from facegate.runtime.onnx_backend import CPU

RAW_SCORE_LIMIT = 80.0
SUPPRESSION_IOU = 0.3
#: Anchor strides and whether each cell gets the interpolated second anchor (MediaPipe's pbtxt).
_STRIDES: dict[str, tuple[tuple[int, ...], bool]] = {
    BLAZEFACE_FULL.key: ((4,), False),
    BLAZEFACE_SHORT.key: ((8, 16, 16, 16), True),
    BLAZEFACE_BACK.key: ((16, 32, 32, 32), True),
}
Floats = NDArray[np.float64]
#: dlib's box from BlazeFace's (``pipeline.detect.mapped_box``): centre x, y shift per width,
#: height; width, height factors.
DLIB_BOX = (-0.0103, 0.0198, 0.9399, 0.9483)


@dataclass(frozen=True, slots=True)
class Detection:
    """A face: box corners (x0, y0, x1, y1) and six keypoints (x, y) in image pixels."""
    corners: Floats
    keypoints: Floats
    score: float

    def box(self) -> Box:
        x0, y0, x1, y1 = (round(float(v)) for v in self.corners)
        return Box(x0, y0, x1, y1)


def anchors(weight: MediapipeWeight) -> Floats:
    """(N, 2) anchor centres in [0, 1] of the input square, in the models' output order."""
    strides, interpolated = _STRIDES[weight.key]
    size, centres, layer = weight.input_size, [], 0
    while layer < len(strides):
        same = sum(1 for s in strides[layer:] if s == strides[layer])
        cells = math.ceil(size / strides[layer])
        per_cell = same * (2 if interpolated else 1)
        grid = (np.arange(cells, dtype=np.float64) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        cell = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cell, per_cell, axis=0))
        layer += same
    return np.concatenate(centres)


def weighted_nms(found: list[Detection], threshold: float = SUPPRESSION_IOU) -> list[Detection]:
    """MediaPipe's WEIGHTED non-maximum suppression over ``found``."""
    remaining = sorted(found, key=lambda d: -d.score)
    kept: list[Detection] = []
    while remaining:
        best = remaining[0]
        overlaps = _ious(best.corners, np.array([d.corners for d in remaining]))
        cluster = [d for d, o in zip(remaining, overlaps, strict=True) if o > threshold]
        remaining = [d for d, o in zip(remaining, overlaps, strict=True) if o <= threshold]
        weights = np.array([d.score for d in cluster])[:, np.newaxis]
        total = float(weights.sum())
        corners = (np.array([d.corners for d in cluster]) * weights).sum(axis=0) / total
        points = (np.array([d.keypoints for d in cluster]) * weights[:, :, np.newaxis]).sum(
            axis=0) / total
        kept.append(Detection(corners, points, best.score))
    return kept


def _ious(box: Floats, boxes: NDArray[Any]) -> Floats:
    x0, y0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x1, y1 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = (box[2] - box[0]) * (box[3] - box[1]) + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def tile_squares(height: int, width: int, tiles: int) -> list[tuple[int, int, int]]:
    """(x, y, side) of square tiles of 1/``tiles`` of the longer side, each step at most 3/4 of
    a side (so neighbours overlap by a quarter or more: 3x2 tiles of a 3:2 photo at
    ``tiles=2``), covering the photo (a tile may reach past its shorter side: read as black)."""
    side = max(height, width) / tiles
    squares: list[tuple[int, int, int]] = []
    for y in _starts(height, side):
        squares.extend((x, y, math.ceil(side)) for x in _starts(width, side))
    return squares


def _starts(length: int, side: float) -> list[int]:
    if length <= side:
        return [round((length - side) / 2)]
    count = math.ceil((length - side) / (side * 0.75)) + 1
    step = (length - side) / (count - 1)
    return [round(i * step) for i in range(count)]


class BlazeFace:
    """BlazeFace on ONNX Runtime (one session, created on first use): ``detections`` with
    keypoints, and ``detect`` for the ``Detector`` protocol (BlazeFace's own boxes; ``upsample``
    is ignored)."""

    def __init__(self, weight: MediapipeWeight = BLAZEFACE_FULL, *, min_score: float = 0.5,
                 tiles: int = 0, cache_dir: Path | None = None,
                 providers: Sequence[str] = (CPU,), intra_op_threads: int = 1) -> None:
        self.weight, self.min_score, self.tiles = weight, min_score, tiles
        self._anchors = anchors(weight)
        self._cache_dir, self._threads = cache_dir, intra_op_threads
        self._requested = list(providers) or [CPU]
        self._session: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the model now."""
        self._get()

    def detect(self, rgb: RGBImage, *, upsample: int = 0) -> list[tuple[Box, float]]:
        return [(d.box(), d.score) for d in self.detections(rgb)]

    def detections(self, rgb: RGBImage) -> list[Detection]:
        height, width = rgb.shape[:2]
        found = self.square(rgb, 0, 0, max(height, width), centred=True)
        if self.tiles > 1:
            for x, y, side in tile_squares(height, width, self.tiles):
                found.extend(self.square(rgb, x, y, side))
        return weighted_nms(found)

    def square(self, rgb: RGBImage, x: int, y: int, side: int, *,
               centred: bool = False) -> list[Detection]:
        """Raw candidates of one pass over the square (x, y, side) of ``rgb`` (``centred``: the
        whole photo letterboxed, bars split evenly), in image pixels, before NMS."""
        height, width = rgb.shape[:2]
        if centred:
            x, y = (width - side) // 2, (height - side) // 2
        size = self.weight.input_size
        k = size / side
        matrix = np.array([[k, 0.0, (0.5 - x) * k - 0.5], [0.0, k, (0.5 - y) * k - 0.5]])
        pixels = cv2.warpAffine(np.ascontiguousarray(rgb), matrix, (size, size),
                                flags=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        tensor = (pixels.astype(np.float32) / np.float32(127.5) - np.float32(1.0))[np.newaxis]
        raw, logits = self._get().run(None, {"input": tensor})
        return self._decoded(np.asarray(raw)[0], np.asarray(logits)[0, :, 0], x, y, side)

    def _decoded(self, raw: NDArray[Any], logits: NDArray[Any], x: int, y: int,
                 side: int) -> list[Detection]:
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -RAW_SCORE_LIMIT,
                                              RAW_SCORE_LIMIT)))
        chosen = np.flatnonzero(scores >= self.min_score)
        size = self.weight.input_size
        values = raw[chosen].astype(np.float64) / size
        centres = self._anchors[chosen]
        cx, cy = values[:, 0] + centres[:, 0], values[:, 1] + centres[:, 1]
        half_w, half_h = values[:, 2] / 2, values[:, 3] / 2
        corners = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
        points = values[:, 4:16].reshape(-1, 6, 2) + centres[:, np.newaxis, :]
        offset = np.array([x, y], dtype=np.float64)
        corners = corners * side + np.tile(offset, 2)
        points = points * side + offset
        return [Detection(c, p, float(s))
                for c, p, s in zip(corners, points, scores[chosen], strict=True)]

    def _get(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = open_session(self.weight, self._cache_dir, self._requested,
                                             self._threads)
            return self._session
