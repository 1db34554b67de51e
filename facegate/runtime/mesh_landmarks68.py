"""68 landmarks in dlib's numbering from the face mesh (Apache-2.0 weights), for what reads 68.

``MeshLandmarks68`` implements ``pipeline.liveness.geometry.Landmarker68`` like
``runtime/dlib_landmarks68.DlibLandmarks68`` does, without the iBUG 300-W-trained model: the face
mesh of the box (``runtime/face_mesh``), its eyes refined by the iris model
(``runtime/mesh_eyes``), read at the mesh point nearest each of dlib's 68 (the usual
correspondence: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47 with the eye-aspect-ratio points of
``face_mesh.RIGHT_EYE`` / ``LEFT_EYE``, lips 48-67). The two models were trained on different
annotations, most of all along the jaw (the mesh's outline sits on the visible cheek contour),
so thresholds tuned on dlib's points need checking against these; the eyes, nose and mouth agree
closely (``tests/runtime/test_mesh_landmarks68.py`` measures it). The default source of 68 points
(``models.landmarks68 = mesh``): ``landmarks`` serves the pipeline's chip alignment (dlib's
68-point chip template reads points 17-67, not the jaw), ``landmarks68`` liveness.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facegate.domain import Box, RGBImage
from facegate.pipeline.liveness.geometry import Landmarks68
from facegate.runtime.face_mesh import FaceMesh
from facegate.runtime.mesh_eyes import IrisRefiner, lid_gap_over_iris
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

    def landmarks68(self, rgb: RGBImage, box: Box) -> Landmarks68:
        mesh = self._mesh.mesh(rgb, box)
        points = self._eyes.refine(rgb, mesh).points if self._eyes is not None else mesh.points
        return points[list(MESH_TO_68), :2].astype(np.float64)

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
        """The same 68 points as ``pipeline.detect.Landmarker`` gives them (chip alignment)."""
        return tuple((float(x), float(y)) for x, y in self.landmarks68(rgb, box))
