"""Locate the CC0 dlib weights shipped by the ``face-recognition-models`` package.

Nothing is downloaded: the files come from the installed package, found with importlib.resources.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from facegate.errors import ModelError

SHAPE_PREDICTOR_5 = "shape_predictor_5_face_landmarks.dat"
SHAPE_PREDICTOR_68 = "shape_predictor_68_face_landmarks.dat"
FACE_RECOGNITION_RESNET = "dlib_face_recognition_resnet_model_v1.dat"
MMOD_DETECTOR = "mmod_human_face_detector.dat"


def weights_path(filename: str) -> Path:
    """Path of one weights file of ``face-recognition-models``; ModelError when it is missing."""
    try:
        folder = importlib.resources.files("face_recognition_models") / "models"
    except ModuleNotFoundError as exc:
        raise ModelError(
            "the face-recognition-models package is not installed (pip install facegate)"
        ) from exc
    path = Path(str(folder / filename))
    if not path.is_file():
        raise ModelError(f"model weights {filename!r} are missing from face-recognition-models")
    return path
