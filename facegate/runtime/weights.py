"""Locate the CC0 dlib weights shipped by the ``face-recognition-models`` package.

Nothing is downloaded: the files come from the installed package, found with importlib.resources.
"""

from __future__ import annotations

import importlib.resources
from collections import Counter
from pathlib import Path

from facegate.errors import ModelError

SHAPE_PREDICTOR_5 = "shape_predictor_5_face_landmarks.dat"
SHAPE_PREDICTOR_68 = "shape_predictor_68_face_landmarks.dat"
FACE_RECOGNITION_RESNET = "dlib_face_recognition_resnet_model_v1.dat"
MMOD_DETECTOR = "mmod_human_face_detector.dat"

#: How many times each weights file was opened to be loaded in this process (``weights_path``
#: and ``mediapipe_weights.read_tflite``): what tests hold ``GET /v1/system`` against.
OPENED: Counter[str] = Counter()


def weights_path(filename: str) -> Path:
    """Path of one weights file of ``face-recognition-models``, to load it (counted in
    ``OPENED``); ModelError when it is missing."""
    path = locate(filename)
    OPENED[filename] += 1
    return path


def locate(filename: str) -> Path:
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
