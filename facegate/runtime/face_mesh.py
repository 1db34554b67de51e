"""MediaPipe's 468-point face mesh on ONNX Runtime, for a face box from any detector.

The model (``runtime/mediapipe_weights.FACE_MESH``, Apache-2.0) takes a 192x192 RGB crop in
[0, 1] and gives 468 (x, y, z) points in crop pixels and a face-presence logit. The crop is taken
as MediaPipe takes it: a square around the face, 1.5 times the box's longer side (MediaPipe's
ROI scale for BlazeFace boxes; dlib's boxes are a little tighter, which the second pass absorbs),
rotated so the eyes are level. One pass crops upright around the box; the second (``refine``)
crops again around the first pass's points, turned by their eye line, as MediaPipe's tracking does
between frames. Measured against dlib's 68 points on 62 LFW faces (HOG boxes, one pass): scale
1.5 puts the inner face 0.041 inter-ocular distances off on average, 1.25 0.051, 1.75 0.054; the
second pass changes little on upright faces and keeps a face turned 35 degrees within 0.06
(0.07-0.18 with one pass; ``tests/runtime/test_face_mesh.py``). Points come back in image
pixels (x, y; pixel centres at integers), z in the same scale (relative depth, smaller is
nearer the camera).

Mesh numbering is MediaPipe's canonical face model. Eye openness uses the six points per eye of
the usual mesh eye aspect ratio: the person's right eye (on the image's left in an unmirrored
photo) 33, 160, 158, 133, 153, 144 and left eye 362, 385, 387, 263, 373, 380 (outer/inner corner,
two upper-lid and two lower-lid points, ordered like the 68-point p1..p6).
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
from facegate.errors import ModelError
from facegate.runtime.mediapipe_weights import FACE_MESH, MediapipeWeight, load_onnx
from facegate.runtime.onnx_backend import CPU, choose_providers

MESH_POINTS = 468
ROI_SCALE = 1.5
RIGHT_EYE = (33, 160, 158, 133, 153, 144)
LEFT_EYE = (362, 385, 387, 263, 373, 380)
_EYE_LINE = (33, 263)  # outer corners of the person's right and left eye
_POINTS_OUTPUT, _SCORE_OUTPUT = "conv2d_20", "conv2d_30"


@dataclass(frozen=True, slots=True)
class Roi:
    """A square crop of the image: centre (pixel-index coordinates), side and turn (radians)."""
    cx: float
    cy: float
    side: float
    angle: float = 0.0

    def crop_to_image(self, size: int) -> NDArray[np.float64]:
        """2x3 matrix from crop coordinates (pixel centres at i + 0.5) to image pixel indices."""
        k = self.side / size
        cos, sin = math.cos(self.angle) * k, math.sin(self.angle) * k
        half = size / 2.0
        return np.array([[cos, -sin, self.cx - cos * half + sin * half],
                         [sin, cos, self.cy - sin * half - cos * half]])


@dataclass(frozen=True, slots=True)
class Mesh:
    points: NDArray[np.float32]  # (468, 3): x, y image pixels; z relative depth
    score: float  # face presence probability, 0..1
    roi: Roi


def box_roi(box: Box, scale: float = ROI_SCALE) -> Roi:
    """The upright square crop MediaPipe would take around ``box``."""
    return Roi((box.left + box.right - 1) / 2.0, (box.top + box.bottom - 1) / 2.0,
               max(box.width, box.height) * scale)


def points_roi(points: NDArray[Any], scale: float = ROI_SCALE) -> Roi:
    """The crop around mesh ``points``, turned so their eye line is level (MediaPipe's tracking)."""
    right, left = points[_EYE_LINE[0], :2], points[_EYE_LINE[1], :2]
    angle = math.atan2(float(left[1] - right[1]), float(left[0] - right[0]))
    cos, sin = math.cos(angle), math.sin(angle)
    xy = points[:, :2].astype(np.float64)
    centre = xy.mean(axis=0)
    local = (xy - centre) @ np.array([[cos, -sin], [sin, cos]])  # into the level frame
    low, high = local.min(axis=0), local.max(axis=0)
    mid = (low + high) / 2.0
    cx = centre[0] + mid[0] * cos - mid[1] * sin
    cy = centre[1] + mid[0] * sin + mid[1] * cos
    return Roi(float(cx), float(cy), float((high - low).max()) * scale, angle)


def crop(rgb: RGBImage, roi: Roi, size: int) -> NDArray[np.float32]:
    """``size`` x ``size`` float32 RGB in [0, 1] of ``roi`` (outside the image: black)."""
    matrix = roi.crop_to_image(size)
    matrix[:, 2] += matrix[:, 0] * 0.5 + matrix[:, 1] * 0.5  # crop pixel centres
    pixels = cv2.warpAffine(np.ascontiguousarray(rgb), matrix, (size, size),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return np.asarray(pixels, dtype=np.float32) / np.float32(255.0)


class FaceMesh:
    """468 face points for a face box, on ONNX Runtime (one session, created on first use)."""

    def __init__(self, *, cache_dir: Path | None = None, providers: Sequence[str] = (CPU,),
                 intra_op_threads: int = 1, refine: bool = True) -> None:
        self._cache_dir = cache_dir
        self._requested = list(providers) or [CPU]
        self._threads = intra_op_threads
        self.refine = refine
        self._session: Any = None
        self._lock = threading.Lock()

    def mesh(self, rgb: RGBImage, box: Box) -> Mesh:
        result = self.mesh_at(rgb, box_roi(box))
        return self.mesh_at(rgb, points_roi(result.points)) if self.refine else result

    def mesh_at(self, rgb: RGBImage, roi: Roi) -> Mesh:
        size = FACE_MESH.input_size
        tensor = crop(rgb, roi, size)[np.newaxis]
        raw, logit = self._get().run([_POINTS_OUTPUT, _SCORE_OUTPUT], {"input_1": tensor})
        local = np.asarray(raw, dtype=np.float64).reshape(MESH_POINTS, 3)
        matrix = roi.crop_to_image(size)
        xy = local[:, :2] @ matrix[:, :2].T + matrix[:, 2]
        z = local[:, 2:] * (roi.side / size)
        score = 1.0 / (1.0 + math.exp(-float(np.clip(np.ravel(logit)[0], -80.0, 80.0))))
        return Mesh(np.hstack([xy, z]).astype(np.float32), score, roi)

    def _get(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = open_session(FACE_MESH, self._cache_dir, self._requested,
                                             self._threads)
            return self._session


def open_session(weight: MediapipeWeight, cache_dir: Path | None, providers: Sequence[str],
                 threads: int) -> Any:
    """An ONNX Runtime session of ``weight`` converted into ``cache_dir``."""
    import onnxruntime  # type: ignore[import-untyped]

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    chosen = choose_providers(providers, onnxruntime.get_available_providers())
    try:
        return onnxruntime.InferenceSession(load_onnx(weight, cache_dir), options,
                                            providers=chosen)
    except Exception as exc:  # onnxruntime raises its own exception classes
        raise ModelError(f"ONNX Runtime cannot load {weight.name}: {exc}") from exc


def eye_aspect_ratio(points: NDArray[Any], eye: tuple[int, ...]) -> float:
    """(|p2-p6| + |p3-p5|) / (2 |p1-p4|) over mesh points ``eye`` (x, y only)."""
    p = points[list(eye), :2].astype(np.float64)
    width = float(np.linalg.norm(p[0] - p[3]))
    if width <= 0.0:
        return 0.0
    gaps = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
    return float(gaps / (2.0 * width))


def eye_openness(points: NDArray[Any]) -> tuple[float, float]:
    """(right eye, left eye) aspect ratios of one mesh, the person's right and left."""
    return eye_aspect_ratio(points, RIGHT_EYE), eye_aspect_ratio(points, LEFT_EYE)
