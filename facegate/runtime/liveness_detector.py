"""The detector that follows a liveness clip's face (``pipeline.track``): MediaPipe's BlazeFace
short-range (Apache-2.0, made for faces within ~2 m of a phone's camera) on ONNX Runtime, one
thread per call (a blink check runs on one model thread), one instance per process and options.
"""

from __future__ import annotations

import functools
from pathlib import Path

from facegate.config import Settings
from facegate.runtime.blazeface import BlazeFace
from facegate.runtime.mediapipe_weights import BLAZEFACE_SHORT


def liveness_detector(settings: Settings) -> BlazeFace | None:
    """BlazeFace short-range with ``liveness.detector = blazeface``; None with ``hog``."""
    if settings.liveness.detector != "blazeface":
        return None
    runtime = settings.runtime
    return _short_range(tuple(runtime.providers), runtime.intra_op_threads or 1,
                        runtime.model_cache)


@functools.lru_cache(maxsize=8)
def _short_range(providers: tuple[str, ...], threads: int, cache_dir: Path | None) -> BlazeFace:
    # MediaPipe's own score cut (0.5), not detection.min_score: that one is the photo
    # detector's false-positive budget, and here a missed face only means HOG searches again.
    return BlazeFace(BLAZEFACE_SHORT, min_score=0.5, cache_dir=cache_dir,
                     providers=providers, intra_op_threads=threads)
