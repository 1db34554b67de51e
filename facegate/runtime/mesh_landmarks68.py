"""68 landmarks in dlib's numbering from the face mesh (Apache-2.0 weights), for what reads 68.

``MeshLandmarks68`` implements ``pipeline.liveness.geometry.Landmarker68`` like
``runtime/dlib_landmarks68.DlibLandmarks68`` does, without the iBUG 300-W-trained model: the face
mesh of the box (``runtime/face_mesh``), its eyes refined by the iris model
(``runtime/mesh_eyes``), read at the mesh point nearest each of dlib's 68 (the usual
correspondence: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47 with the eye-aspect-ratio points of
``face_mesh.RIGHT_EYE`` / ``LEFT_EYE``, lips 48-67). The two models were trained on different
annotations, most of all along the jaw (the mesh's outline sits on the visible cheek contour),
so thresholds tuned on dlib's points need checking against these; the eyes, nose and mouth agree
closely (``tests/runtime/test_mesh_landmarks68.py`` measures it). ``landmarks68`` serves liveness.

``landmarks`` serves the enrolment's second chip (``alignment.landmarks`` ``68`` / ``both``) and
does not go through the 68 points: dlib's 68-point chip template expects dlib's annotation, and
the mesh's eyes, nose and mouth sit 0.03-0.04 eye spacings off it, which cost LFW accuracy
(docs/accuracy.md). Instead every one of the 468 mesh points is fitted (least squares
similarity, ``align_points``) to where that point sits on average in the 5-point chip
(``runtime/mesh_template``), and the face is handed to the aligner as the five points dlib's
5-point chip template would need for that similarity: a second chip in the frame the descriptor
expects, located by 468 points instead of five.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facegate.domain import Box, RGBImage
from facegate.pipeline.align import CHIP_PADDING, CHIP_SIZE
from facegate.pipeline.liveness.geometry import Landmarks68
from facegate.runtime.face_mesh import FaceMesh
from facegate.runtime.mesh_eyes import IrisRefiner, lid_gap_over_iris
from facegate.runtime.mesh_template import MESH_IN_CHIP
from facegate.runtime.onnx_backend import CPU

#: Mesh point for each of dlib's 68 landmarks, in dlib's order.
MESH_TO_68 = (
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,  # jaw
    71, 63, 105, 66, 107, 336, 296, 334, 293, 301,  # brows
    168, 197, 5, 4, 75, 97, 2, 326, 305,  # nose bridge and base
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,  # eyes
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer lips
    78, 82, 13, 312, 308, 317, 14, 87,  # inner lips
)


#: Where dlib's 5-point chip (``get_face_chip_details``) puts the 5-point model's points (the
#: corners of each eye, then the base of the nose), in chip pixels (``CHIP_SIZE``, padding
#: ``CHIP_PADDING``).
DLIB_5_TEMPLATE = (CHIP_PADDING + np.array([
    (0.8595674595992, 0.2134981538014), (0.6460604764104, 0.2289674387677),
    (0.1205750620789, 0.2137274526848), (0.3340850613712, 0.2290642403242),
    (0.4901123135679, 0.6277975316475)])) / (1 + 2 * CHIP_PADDING) * CHIP_SIZE
_MESH_IN_CHIP = np.array(MESH_IN_CHIP, dtype=np.float64)


def similarity(source: NDArray[np.float64], target: NDArray[np.float64]) \
        -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Least-squares similarity (rotation, uniform scale, shift) taking ``source`` onto
    ``target`` (both ``(n, 2)``): ``(M, t)`` with ``target ≈ source @ M.T + t``."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    s, d = source - source_mean, target - target_mean
    norm = float((s ** 2).sum())
    a = float((s * d).sum()) / norm
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / norm
    matrix = np.array([[a, -b], [b, a]])
    return matrix, target_mean - matrix @ source_mean


def align_points(mesh: NDArray[np.float64]) -> tuple[tuple[float, float], ...]:
    """The five points (dlib's 5-point order) whose 5-point chip is the chip that fits these
    468 mesh points (image pixels) best to ``mesh_template.MESH_IN_CHIP``."""
    matrix, shift = similarity(mesh, _MESH_IN_CHIP)
    five = (DLIB_5_TEMPLATE - shift) @ np.linalg.inv(matrix).T
    return tuple((float(x), float(y)) for x, y in five)


class MeshLandmarks68:
    """dlib-numbered 68 points from the face mesh and iris models (sessions load on first use)."""

    def __init__(self, *, cache_dir: Path | None = None, providers: Sequence[str] = (CPU,),
                 intra_op_threads: int = 1, refine_eyes: bool = True) -> None:
        self._mesh = FaceMesh(cache_dir=cache_dir, providers=providers,
                              intra_op_threads=intra_op_threads)
        self._eyes = (IrisRefiner(cache_dir=cache_dir, providers=providers,
                                  intra_op_threads=intra_op_threads) if refine_eyes else None)

    def warm_up(self) -> None:
        self.landmarks68(np.zeros((64, 64, 3), dtype=np.uint8), Box(8, 8, 56, 56))

    def mesh_points(self, rgb: RGBImage, box: Box) -> NDArray[np.float64]:
        """The 468 mesh points (x, y image pixels), eyes refined by the iris model."""
        mesh = self._mesh.mesh(rgb, box)
        points = self._eyes.refine(rgb, mesh).points if self._eyes is not None else mesh.points
        return np.asarray(points[:, :2], dtype=np.float64)

    def landmarks68(self, rgb: RGBImage, box: Box) -> Landmarks68:
        return self.mesh_points(rgb, box)[list(MESH_TO_68)]

    def landmarks68_eyes(self, rgb: RGBImage, box: Box
                         ) -> tuple[Landmarks68, tuple[float, float] | None]:
        """The 68 points and, with the iris model, each eye's lid gap over its iris diameter
        (``mesh_eyes.lid_gap_over_iris``: liveness's eye openness on these points)."""
        mesh = self._mesh.mesh(rgb, box)
        if self._eyes is None:
            return mesh.points[list(MESH_TO_68), :2].astype(np.float64), None
        refined = self._eyes.refine(rgb, mesh)
        return (refined.points[list(MESH_TO_68), :2].astype(np.float64),
                lid_gap_over_iris(refined))

    def landmarks(self, rgb: RGBImage, box: Box) -> tuple[tuple[float, float], ...]:
        """Points to align the face's chip on (``pipeline.detect.Landmarker``): five, fitted
        from the whole mesh (``align_points``), not the 68."""
        return align_points(self.mesh_points(rgb, box))
