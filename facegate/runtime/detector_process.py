"""A face detector run in a child process.

dlib's CNN (MMOD) detector holds the GIL for its whole call: about 0.15 s on a 150 px face crop
here, during which every other thread of a server (the event loop, the other requests' Python
work) stands still. The server runs it in one child process instead and waits on the answer
without the GIL; the photo (a small crop: the fallback only sees photos up to
``detection.fallback_max_side``) and the boxes are all that cross.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

import numpy as np

from facegate.domain import Box, RGBImage
from facegate.errors import ModelError

logger = logging.getLogger(__name__)


class _Detector(Protocol):
    def detect(self, rgb: RGBImage, *, upsample: int) -> list[tuple[Box, float]]: ...


class DetectorProcess:
    """``Detector`` whose ``detect`` runs in a child process made by ``factory`` (a picklable
    callable, e.g. a class). A child that dies is replaced and the photo tried once more."""

    def __init__(self, factory: Callable[[], _Detector]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_load, initargs=(self._factory, os.getpid()))

    def detect(self, rgb: RGBImage, *, upsample: int) -> list[tuple[Box, float]]:
        for attempt in (1, 2):
            pool = self._pool
            try:
                return pool.submit(_detect, rgb, upsample).result()
            except BrokenProcessPool as exc:
                with self._lock:
                    if self._pool is pool:
                        self._pool = self._start()
                        pool.shutdown(wait=False, cancel_futures=True)
                        logger.error("the detector process stopped; started a new one")
                if attempt == 2:
                    raise ModelError("the detector process stopped while reading this photo"
                                     ) from exc
        raise AssertionError("unreachable")

    def warm_up(self) -> None:
        """Start the child and load its model now."""
        self._pool.submit(os.getpid).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


_DETECTOR: _Detector | None = None


def _load(factory: Callable[[], _Detector], parent: int) -> None:
    global _DETECTOR
    threading.Thread(target=exit_with_parent, args=(parent,), daemon=True,
                     name="facegate-parent-watch").start()
    _DETECTOR = factory()
    _DETECTOR.detect(np.zeros((64, 64, 3), dtype=np.uint8), upsample=0)  # load the weights now


def _detect(rgb: RGBImage, upsample: int) -> list[tuple[Box, float]]:
    assert _DETECTOR is not None
    return _DETECTOR.detect(rgb, upsample=upsample)


def exit_with_parent(parent: int) -> None:
    """A child whose server was killed (``kill -9``) exits instead of lingering: its task queue
    never reports end-of-file, because every worker holds that pipe's writing end too."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
