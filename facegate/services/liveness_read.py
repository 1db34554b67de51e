"""Reading a sequence's frames for liveness: each frame's face (``pipeline.track``), its 68
points and eye measure, and the hash of its pixels, with the work shared between threads.

The track runs in the calling thread, frame after frame: whether a frame is searched, and with
which box, depends on the frames before. Everything after the box depends on that frame alone
(the face mesh's two passes and the iris model's two eyes, ~15 ms of ONNX Runtime per frame,
and SHA-256 of its pixels), so it is handed to ``threads`` worker threads as soon as the box is
known and runs while the track reads the next frames. ONNX Runtime, OpenCV and hashlib release
the GIL, so the threads use every core; each model call still runs on one thread, so every
frame's points are the same bits as when the frames are read one by one (``threads`` 1: all in
the calling thread, in order; ``tests/test_liveness_read.py`` holds the two to the same answers).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from facegate.domain import Box, Descriptor, RGBImage, Timings
from facegate.pipeline.liveness.geometry import (
    EyeLandmarker68,
    FaceGeometry,
    Landmarker68,
    Landmarks68,
    measure,
)
from facegate.pipeline.track import FaceTrack


@dataclass(slots=True)
class FrameReading:
    index: int
    faces: int
    box: Box | None = None
    score: float = 0.0
    #: False when the box was taken from the frame before (``pipeline.track``).
    searched: bool = True
    points: Landmarks68 | None = None
    geometry: FaceGeometry | None = None
    descriptor: Descriptor | None = None
    pixels_sha256: str = ""


def read_frames(frames: Sequence[RGBImage], *, track: FaceTrack, shapes: Landmarker68,
                threads: int, timings: Timings) -> list[FrameReading]:
    """One reading per frame, in order. ``timings``: ``detect`` (the track, in the calling
    thread), ``landmarks`` (points and hash, summed over the threads that ran them) and
    ``read`` (the whole, wall time)."""
    started = time.perf_counter()
    readings: list[FrameReading] = []
    spent: list[float] = []
    with Runner(threads) as runner:
        for index, rgb in enumerate(frames):
            found_at = time.perf_counter()
            last = readings[-1] if readings else None
            previous = (last.box, last.score) if last and last.box and last.faces == 1 else None
            found, searched = track.locate(rgb, index=index, previous=previous)
            reading = FrameReading(index=index, faces=len(found), searched=searched)
            if len(found) == 1:
                reading.box, reading.score = found[0]
            readings.append(reading)
            timings.add("detect", (time.perf_counter() - found_at) * 1000.0)
            runner.run(_measure_frame, rgb, reading, shapes, spent)
    timings.add("landmarks", sum(spent))
    timings.add("read", (time.perf_counter() - started) * 1000.0)
    return readings


def _measure_frame(rgb: RGBImage, reading: FrameReading, shapes: Landmarker68,
                   spent: list[float]) -> None:
    """Fill ``reading``'s hash, points and geometry (its box is set); time into ``spent``."""
    started = time.perf_counter()
    reading.pixels_sha256 = hashlib.sha256(np.ascontiguousarray(rgb).data).hexdigest()
    if reading.box is not None:
        eyes = None
        if isinstance(shapes, EyeLandmarker68):
            reading.points, eyes = shapes.landmarks68_eyes(rgb, reading.box)
        else:
            reading.points = shapes.landmarks68(rgb, reading.box)
        reading.geometry = measure(reading.points, eyes)
    spent.append((time.perf_counter() - started) * 1000.0)  # list.append is atomic


class Runner:
    """Runs calls on ``threads`` worker threads (1: at once, in the calling thread); leaving
    the ``with`` waits for all of them and raises the first error any of them raised."""

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(threads, "liveness") if threads > 1 else None
        self._jobs: list[Future[None]] = []

    def run(self, call: Callable[..., None], *args: object) -> None:
        if self._pool is None:
            call(*args)
        else:
            self._jobs.append(self._pool.submit(call, *args))

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, failed: type[BaseException] | None, *exc: object) -> None:
        if self._pool is None:
            return
        if failed is not None:  # the calling thread's error wins; the rest is not wanted
            self._pool.shutdown(wait=True, cancel_futures=True)
            return
        try:
            for job in self._jobs:
                job.result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
