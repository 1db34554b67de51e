"""dlib-backed implementations of the pipeline protocols (HOG detector, 5-point landmarks,
face chips, ResNet descriptor).

Models load lazily on first use, once, under a lock. dlib's network keeps per-call scratch state,
so every model call is serialised by that model's own lock: two requests may detect and embed at
the same time, but never run one dlib object on two threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facegate.domain import DESCRIPTOR_MODEL, DESCRIPTOR_SIZE, Box, RGBImage
from facegate.errors import ModelError
from facegate.pipeline.align import CHIP_PADDING, CHIP_SIZE
from facegate.runtime.weights import (
    FACE_RECOGNITION_RESNET,
    MMOD_DETECTOR,
    SHAPE_PREDICTOR_5,
    weights_path,
)

logger = logging.getLogger(__name__)


class _Lazy:
    """A model built on first use, under a lock, and used under that lock."""

    def __init__(self, name: str, build: Any) -> None:
        self.name = name
        self._build = build
        self._model: Any = None
        self.lock = threading.Lock()

    def get(self) -> Any:
        """The model; call with ``self.lock`` held."""
        if self._model is None:
            try:
                self._model = self._build()
            except RuntimeError as exc:  # dlib reports unreadable weights as RuntimeError
                raise ModelError(f"could not load {self.name}: {exc}") from exc
            logger.info("loaded %s", self.name)
        return self._model


def _dlib() -> Any:
    import dlib

    return dlib


class DlibModels:
    """One set of dlib models; implements Detector, Landmarker, Aligner and Embedder."""

    model_name = DESCRIPTOR_MODEL

    def __init__(self) -> None:
        dlib = _dlib()
        self._detector = _Lazy("dlib HOG face detector", dlib.get_frontal_face_detector)
        self._shapes = _Lazy(
            "dlib 5-point shape predictor",
            lambda: dlib.shape_predictor(str(weights_path(SHAPE_PREDICTOR_5))),
        )
        self._resnet = _Lazy(
            "dlib ResNet face descriptor",
            lambda: dlib.face_recognition_model_v1(str(weights_path(FACE_RECOGNITION_RESNET))),
        )

    def warm_up(self) -> None:
        """Load every model now (servers call this before they report ready)."""
        for lazy in (self._detector, self._shapes, self._resnet):
            with lazy.lock:
                lazy.get()

    # Detector
    def detect(self, rgb: RGBImage, *, upsample: int) -> list[tuple[Box, float]]:
        with self._detector.lock:
            rects, scores, _ = self._detector.get().run(rgb, upsample, 0.0)
        return [
            (Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1), float(s))
            for r, s in zip(rects, scores, strict=True)
        ]

    # Landmarker
    def landmarks(self, rgb: RGBImage, box: Box) -> tuple[tuple[float, float], ...]:
        rect = _dlib().rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
        with self._shapes.lock:
            shape = self._shapes.get()(rgb, rect)
        return tuple((float(p.x), float(p.y)) for p in shape.parts())

    # Aligner
    def chip(self, rgb: RGBImage, landmarks: tuple[tuple[float, float], ...]) -> RGBImage:
        dlib = _dlib()
        xs = [x for x, _ in landmarks]
        ys = [y for _, y in landmarks]
        rect = dlib.rectangle(int(min(xs)), int(min(ys)), int(max(xs)) + 1, int(max(ys)) + 1)
        points = dlib.points()
        for x, y in landmarks:
            points.append(dlib.point(round(x), round(y)))
        shape = dlib.full_object_detection(rect, points)
        chip = dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        return np.ascontiguousarray(chip, dtype=np.uint8)

    # Embedder
    def embed(self, chips: Sequence[RGBImage]) -> NDArray[np.float32]:
        if not chips:
            return np.zeros((0, DESCRIPTOR_SIZE), dtype=np.float32)
        with self._resnet.lock:
            vectors = self._resnet.get().compute_face_descriptor(list(chips))
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32)


class DlibCnnDetector:
    """dlib's CNN (MMOD) face detector: finds faces HOG misses, at about 2 s for a 225x225 image
    on dlib-bin's CPU build, so facegate uses it only as a last resort on small photos."""

    def __init__(self) -> None:
        dlib = _dlib()
        self._cnn = _Lazy(
            "dlib CNN face detector",
            lambda: dlib.cnn_face_detection_model_v1(str(weights_path(MMOD_DETECTOR))),
        )

    def detect(self, rgb: RGBImage, *, upsample: int) -> list[tuple[Box, float]]:
        with self._cnn.lock:
            found = self._cnn.get()(rgb, upsample)
        return [
            (Box(d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1),
             float(d.confidence))
            for d in found
        ]
