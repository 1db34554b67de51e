"""dlib-backed implementations of the pipeline protocols (HOG detector, 5-point landmarks,
face chips, ResNet descriptor).

Models load lazily on first use. A dlib object keeps per-call scratch state, so it never runs on
two threads at once: concurrent calls each borrow their own instance from the model's pool, and
since dlib releases the GIL while it computes, they run in parallel on separate cores.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
    SHAPE_PREDICTOR_68,
    weights_path,
)

logger = logging.getLogger(__name__)


class _Pool:
    """Instances of one model, built on first use; each call borrows one for itself.

    dlib objects keep scratch state per call, so an instance never runs on two threads at once;
    concurrent calls each get their own instance (built when none is free), so they run in
    parallel (dlib releases the GIL while it computes).
    """

    def __init__(self, name: str, build: Any) -> None:
        self.name = name
        self._build = build
        self._free: list[Any] = []
        self._lock = threading.Lock()

    @contextmanager
    def borrow(self) -> Iterator[Any]:
        with self._lock:
            model = self._free.pop() if self._free else None
        if model is None:
            model = self._make()
        try:
            yield model
        except RuntimeError as exc:
            # dlib reports what it cannot compute as RuntimeError, and such an instance is not
            # to be trusted again (its next call can crash the process): it is dropped.
            raise ModelError(f"{self.name} failed: {str(exc).strip()[:200]}") from exc
        except BaseException:
            self._put_back(model)
            raise
        else:
            self._put_back(model)

    def _put_back(self, model: Any) -> None:
        with self._lock:
            self._free.append(model)

    def _make(self) -> Any:
        try:
            model = self._build()
        except RuntimeError as exc:  # dlib reports unreadable weights as RuntimeError
            raise ModelError(f"could not load {self.name}: {exc}") from exc
        logger.info("loaded %s", self.name)
        return model


def _dlib() -> Any:
    import dlib

    return dlib


class DlibModels:
    """One set of dlib models; implements Detector, Landmarker, Aligner and Embedder."""

    model_name = DESCRIPTOR_MODEL

    def __init__(self) -> None:
        dlib = _dlib()
        self._detector = _Pool("dlib HOG face detector", dlib.get_frontal_face_detector)
        self._shapes = _Pool(
            "dlib 5-point shape predictor",
            lambda: dlib.shape_predictor(str(weights_path(SHAPE_PREDICTOR_5))),
        )
        self._resnet = _Pool(
            "dlib ResNet face descriptor",
            lambda: dlib.face_recognition_model_v1(str(weights_path(FACE_RECOGNITION_RESNET))),
        )

    def warm_up(self, *, descriptor: bool = True) -> None:
        """Load every model now (servers call this before they report ready); ``descriptor``:
        dlib's ResNet too (not when ONNX Runtime runs the descriptor)."""
        for pool in (self._detector, self._shapes, self._resnet)[:3 if descriptor else 2]:
            with pool.borrow():
                pass

    # Detector
    def detect(self, rgb: RGBImage, *, upsample: int) -> list[tuple[Box, float]]:
        with self._detector.borrow() as model:
            rects, scores, _ = model.run(_gray(rgb), upsample, 0.0)
        return [
            (Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1), float(s))
            for r, s in zip(rects, scores, strict=True)
        ]

    # Landmarker
    def landmarks(self, rgb: RGBImage, box: Box) -> tuple[tuple[float, float], ...]:
        rect = _dlib().rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
        with self._shapes.borrow() as model:
            shape = model(rgb, rect)
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
        with self._resnet.borrow() as model:
            vectors = model.compute_face_descriptor(list(chips))
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32)


class Dlib68Landmarker:
    """dlib's 68-point shape predictor: a Landmarker whose points align chips more steadily
    than the 5-point model's (see docs/accuracy.md)."""

    def __init__(self) -> None:
        dlib = _dlib()
        self._shapes = _Pool(
            "dlib 68-point shape predictor",
            lambda: dlib.shape_predictor(str(weights_path(SHAPE_PREDICTOR_68))),
        )

    def warm_up(self) -> None:
        with self._shapes.borrow():
            pass

    def landmarks(self, rgb: RGBImage, box: Box) -> tuple[tuple[float, float], ...]:
        rect = _dlib().rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
        with self._shapes.borrow() as model:
            shape = model(rgb, rect)
        return tuple((float(p.x), float(p.y)) for p in shape.parts())


#: dlib's CNN fails (RuntimeError, then an unusable instance) on images with a side under this.
CNN_MIN_SIDE = 10


class DlibCnnDetector:
    """dlib's CNN (MMOD) face detector: finds faces HOG misses, at about 2 s for a 225x225 image
    on dlib-bin's CPU build, so facegate uses it only as a last resort on small photos."""

    def __init__(self) -> None:
        dlib = _dlib()
        self._cnn = _Pool(
            "dlib CNN face detector",
            lambda: dlib.cnn_face_detection_model_v1(str(weights_path(MMOD_DETECTOR))),
        )

    def detect(self, rgb: RGBImage, *, upsample: int) -> list[tuple[Box, float]]:
        if min(rgb.shape[:2]) < CNN_MIN_SIDE:
            return []
        with self._cnn.borrow() as model:
            found = model(rgb, upsample)
        return [
            (Box(d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1),
             float(d.confidence))
            for d in found
        ]


def _gray(rgb: RGBImage) -> NDArray[np.uint8]:
    """Luma (ITU-R 601), what HOG needs."""
    weights = np.array([299, 587, 114], dtype=np.uint32)
    return ((rgb @ weights + 500) // 1000).astype(np.uint8)
