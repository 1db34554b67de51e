"""A face detector run in a child process.

dlib's CNN (MMOD) detector holds the GIL for its whole call: about 0.15 s on a 150 px face crop
here, during which every other thread of a server (the event loop, the other requests' Python
work) stands still. The server runs it in one child process instead and waits on the answer
without the GIL; the photo (a small crop: the fallback only sees photos up to
``detection.fallback_max_side``) and the boxes are all that cross.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

import numpy as np

from facegate.domain import Box, RGBImage
from facegate.runtime.child_processes import RestartingPool, watch_parent


class _Detector(Protocol):
    def detect(self, rgb: RGBImage, *, upsample: int) -> list[tuple[Box, float]]: ...


class DetectorProcess:
    """``Detector`` whose ``detect`` runs in a child process made by ``factory`` (a picklable
    callable, e.g. a class). A child that dies is replaced and the photo tried once more."""

    def __init__(self, factory: Callable[[], _Detector]) -> None:
        self.pool = RestartingPool(1, _load, (factory,), what="detector")

    def detect(self, rgb: RGBImage, *, upsample: int) -> list[tuple[Box, float]]:
        return self.pool.call(_detect, rgb, upsample)

    def warm_up(self) -> None:
        """Start the child and load its model now."""
        self.pool.call(os.getpid)

    def close(self) -> None:
        self.pool.close()


_DETECTOR: _Detector | None = None


def _load(factory: Callable[[], _Detector]) -> None:
    global _DETECTOR
    watch_parent()
    _DETECTOR = factory()
    _DETECTOR.detect(np.zeros((64, 64, 3), dtype=np.uint8), upsample=0)  # load the weights now


def _detect(rgb: RGBImage, upsample: int) -> list[tuple[Box, float]]:
    assert _DETECTOR is not None
    return _DETECTOR.detect(rgb, upsample=upsample)
