"""RGB photo → faces with chips and descriptors, by composing the pipeline's protocols."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from facegate.domain import Box, DetectedFace, Face, RGBImage, Timings
from facegate.pipeline.align import Aligner
from facegate.pipeline.augment import combine
from facegate.pipeline.detect import FaceFinder, Landmarker, clip_box
from facegate.pipeline.embed import Embedder
from facegate.pipeline.quality import assess


@dataclass(frozen=True, slots=True)
class FacePipeline:
    finder: FaceFinder
    landmarker: Landmarker
    aligner: Aligner
    embedder: Embedder
    #: When set, chips are aligned on this landmarker's points (dlib's 68) for each box, while
    #: faces still report ``landmarker``'s five points.
    align_landmarker: Landmarker | None = None
    #: With ``align_landmarker``: also embed the chip aligned on the five points, and give each
    #: face the mean direction of both chips' descriptors (``augment.combine``).
    align_both: bool = False

    def detect(self, rgb: RGBImage, *, timings: Timings | None = None) -> list[Face]:
        """Every face in the photo, largest first, with its chip; descriptors left empty."""
        return self._faces(rgb, timings=timings, embed=False)

    def analyze(
        self, rgb: RGBImage, *, timings: Timings | None = None, every_face: bool = True
    ) -> list[Face]:
        """Faces with chip and descriptor (one batched call), largest first: every face, or with
        ``every_face=False`` the clearly visible ones an authentication photo is about."""
        return self._faces(rgb, timings=timings, embed=True, every_face=every_face)

    def analyze_at(self, rgb: RGBImage, boxes: list[tuple[Box, float]]) -> list[Face]:
        """``analyze`` for faces already located (boxes with scores, as ``finder.locate``
        gives them): the same landmarks, chips and descriptors, without detecting again."""
        return self._at(rgb, boxes, timings=Timings(), embed=True, started=time.perf_counter())

    def _faces(
        self, rgb: RGBImage, *, timings: Timings | None, embed: bool, every_face: bool = True
    ) -> list[Face]:
        timings = timings if timings is not None else Timings()
        started = time.perf_counter()
        boxes = self.finder.locate(rgb, every_face=every_face)
        return self._at(rgb, boxes, timings=timings, embed=embed, started=started)

    def _at(self, rgb: RGBImage, boxes: list[tuple[Box, float]], *, timings: Timings,
            embed: bool, started: float) -> list[Face]:
        height, width = rgb.shape[:2]
        points = [self.landmarker.landmarks(rgb, box) for box, _ in boxes]
        detections = [
            DetectedFace(
                box=clip_box(box, width=width, height=height),
                score=round(score, 4),
                landmarks=tuple((round(x, 2), round(y, 2)) for x, y in marks),
            )
            for (box, score), marks in zip(boxes, points, strict=True)
        ]
        timings.add("detect", _ms_since(started))
        started = time.perf_counter()
        extra: list[RGBImage] = []
        if self.align_landmarker is not None:
            if self.align_both:
                extra = [self.aligner.chip(rgb, marks) for marks in points]
            points = [self.align_landmarker.landmarks(rgb, box) for box, _ in boxes]
        chips = [self.aligner.chip(rgb, marks) for marks in points]
        timings.add("align", _ms_since(started))
        started = time.perf_counter()
        descriptors = None
        if embed and chips:
            descriptors = self.embedder.embed(chips + extra)
            if extra:
                descriptors = combine(descriptors.reshape(2, len(chips), -1).transpose(1, 0, 2))
        if embed:
            timings.add("embed", _ms_since(started))
        faces = [
            Face(
                detection=detection,
                chip=chip,
                descriptor=descriptors[i] if descriptors is not None else _EMPTY,
                quality=assess(chip, detection.box),
            )
            for i, (detection, chip) in enumerate(zip(detections, chips, strict=True))
        ]
        faces.sort(key=lambda face: face.detection.box.area, reverse=True)
        return faces


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


_EMPTY = np.zeros(0, dtype=np.float32)
