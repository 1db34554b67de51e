"""Liveness over a sequence of frames: who is in every frame, their eyes, mouth and head pose,
and the checks every live sequence must pass (see ``docs/liveness.md``).

The work runs in the calling thread (the server's model threads), not in the face worker
processes: a sequence's frames share one face track, and shipping the decoded frames between
processes would cost more than the detection saves.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from facegate.domain import Box, Descriptor, RGBImage, Timings
from facegate.errors import TooManyFramesError, TooManyPixelsError, ValidationError
from facegate.pipeline.faces import FacePipeline
from facegate.pipeline.image import decode_image
from facegate.pipeline.liveness.blinks import (
    BlinkRules,
    EyeEvent,
    EyeSeries,
    find_events,
    relative_openness,
)
from facegate.pipeline.liveness.geometry import (
    FaceGeometry,
    Landmarker68,
    Landmarks68,
    measure,
)
from facegate.pipeline.video import decode_video

logger = logging.getLogger(__name__)

#: Stable reason codes of a sequence that is not live.
TOO_FEW_FRAMES = "TOO_FEW_FRAMES"
NO_FACE = "NO_FACE"
MULTIPLE_FACES = "MULTIPLE_FACES"
IDENTITY_CHANGED = "IDENTITY_CHANGED"
FRAMES_IDENTICAL = "FRAMES_IDENTICAL"
NO_BLINK = "NO_BLINK"
ACTIONS_NOT_PERFORMED = "ACTIONS_NOT_PERFORMED"


@dataclass(frozen=True, slots=True)
class LivenessRules:
    min_frames: int = 8
    max_frames: int = 300
    #: Decoded pixels of a whole sequence (100 M: 300 frames of 640x480, ~300 MB as RGB).
    max_sequence_pixels: int = 100_000_000
    #: Frames per second assumed for a frame list (a video brings its own).
    default_fps: float = 30.0
    #: A descriptor on every n-th frame with a face (and the last), for the same-person check.
    descriptor_every: int = 5
    #: Euclidean distance over which two frames' faces are not the same person.
    same_person: float = 0.6
    #: Frames without a face tolerated, as a share of the sequence.
    max_no_face: float = 0.25
    blinks: BlinkRules = field(default_factory=BlinkRules)


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str
    frames: list[int] = field(default_factory=list)


@dataclass(slots=True)
class FrameReading:
    index: int
    faces: int
    box: Box | None = None
    points: Landmarks68 | None = None
    geometry: FaceGeometry | None = None
    descriptor: Descriptor | None = None
    pixels_sha256: str = ""


@dataclass(frozen=True, slots=True)
class SequenceReport:
    live: bool
    frames: list[FrameReading]
    series: EyeSeries
    events: list[EyeEvent]
    reasons: list[Reason]
    fps: float
    #: The frame whose descriptor stands for the person (eyes open, most frontal), if any.
    best_frame: int | None
    timings: Timings

    @property
    def best_descriptor(self) -> Descriptor | None:
        if self.best_frame is None:
            return None
        return self.frames[self.best_frame].descriptor

    @property
    def blinks(self) -> list[EyeEvent]:
        return [event for event in self.events if event.kind == "blink"]


@dataclass(frozen=True, slots=True)
class LivenessService:
    pipeline: FacePipeline
    shapes: Landmarker68
    max_upload_bytes: int
    max_pixels: int
    rules: LivenessRules = LivenessRules()

    # -- inputs -----------------------------------------------------------------------------
    def decode_frames(self, images: list[bytes]) -> list[RGBImage]:
        """Each image decoded with the photo limits, and all of them within
        ``max_sequence_pixels`` (checked from each header before it is decoded)."""
        if len(images) > self.rules.max_frames:
            raise TooManyFramesError(f"at most {self.rules.max_frames} frames are read",
                                     details={"limit_frames": self.rules.max_frames})
        frames: list[RGBImage] = []
        left = self.rules.max_sequence_pixels
        for data in images:
            self._check_budget(left)
            rgb = decode_image(data, max_bytes=self.max_upload_bytes,
                               max_pixels=min(self.max_pixels, max(left, 1))).rgb
            left -= rgb.shape[0] * rgb.shape[1]
            frames.append(rgb)
        return frames

    def decode_video(self, data: bytes) -> tuple[list[RGBImage], float]:
        frames, fps = decode_video(data, max_frames=self.rules.max_frames,
                                   max_pixels=self.max_pixels,
                                   max_total_pixels=self.rules.max_sequence_pixels)
        return frames, fps or self.rules.default_fps

    def _check_budget(self, left: int) -> None:
        if left <= 0:
            raise TooManyPixelsError(
                f"the frames hold more than {self.rules.max_sequence_pixels} pixels in all; "
                "send fewer or smaller frames",
                details={"limit_sequence_pixels": self.rules.max_sequence_pixels})

    # -- the blink check ----------------------------------------------------------------------
    def blink(self, frames: list[RGBImage], *, fps: float | None = None) -> SequenceReport:
        """Live when the common checks pass and at least one full blink (both eyes) is seen."""
        report = self.analyze(frames, fps=fps)
        reasons = list(report.reasons)
        if not report.blinks and not any(r.code == TOO_FEW_FRAMES for r in reasons):
            winks = sum(event.kind == "wink" for event in report.events)
            reasons.append(Reason(NO_BLINK, "no full blink (both eyes closing, then opening) "
                                  f"was seen ({winks} wink(s))"))
        return _with_reasons(report, reasons)

    def analyze(self, frames: list[RGBImage], *, fps: float | None = None) -> SequenceReport:
        """Every frame read and the checks any live sequence must pass; no action required."""
        if not frames:
            raise ValidationError("send at least one frame")
        if len(frames) > self.rules.max_frames:
            raise TooManyFramesError(f"at most {self.rules.max_frames} frames are read",
                                     details={"limit_frames": self.rules.max_frames})
        rate = fps if fps and fps > 0 else self.rules.default_fps
        timings = Timings()
        readings = [self._read(i, rgb, timings) for i, rgb in enumerate(frames)]
        started = time.perf_counter()
        self._embed_some(frames, readings)
        timings.add("embed", (time.perf_counter() - started) * 1000.0)
        right = np.array([r.geometry.right_eye if r.geometry else np.nan for r in readings])
        left = np.array([r.geometry.left_eye if r.geometry else np.nan for r in readings])
        series = relative_openness(right, left, self.rules.blinks)
        events = find_events(series, fps=rate, rules=self.rules.blinks)
        reasons = self._common_reasons(readings)
        logger.info("liveness: %d frames, %d events, %d reasons", len(frames), len(events),
                    len(reasons))
        return SequenceReport(
            live=not reasons, frames=readings, series=series, events=events, reasons=reasons,
            fps=rate, best_frame=_best(readings, series), timings=timings)

    def _read(self, index: int, rgb: RGBImage, timings: Timings) -> FrameReading:
        started = time.perf_counter()
        sha = hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()
        found = self.pipeline.finder.locate(rgb, every_face=False)
        timings.add("detect", (time.perf_counter() - started) * 1000.0)
        reading = FrameReading(index=index, faces=len(found), pixels_sha256=sha)
        if len(found) != 1:
            return reading
        started = time.perf_counter()
        box = found[0][0]
        reading.box = box
        reading.points = self.shapes.landmarks68(rgb, box)
        reading.geometry = measure(reading.points)
        timings.add("landmarks", (time.perf_counter() - started) * 1000.0)
        return reading

    def _embed_some(self, frames: list[RGBImage], readings: list[FrameReading]) -> None:
        """Descriptors of every ``descriptor_every``-th frame with a face, and the last: read by
        the same pipeline as verify and identify (alignment, augmentation), so the best
        frame's descriptor can be held against the gallery."""
        with_face = [r for r in readings if r.box is not None]
        chosen = with_face[::self.rules.descriptor_every]
        if with_face and with_face[-1] not in chosen:
            chosen.append(with_face[-1])
        for reading in chosen:
            faces = self.pipeline.analyze(frames[reading.index], every_face=False)
            if faces and reading.box is not None:
                face = max(faces, key=lambda f: _overlap(f.detection.box, reading.box))
                reading.descriptor = face.descriptor

    def _common_reasons(self, readings: list[FrameReading]) -> list[Reason]:
        rules, reasons = self.rules, []
        if len(readings) < rules.min_frames:
            reasons.append(Reason(TOO_FEW_FRAMES, f"{len(readings)} frames; at least "
                                  f"{rules.min_frames} are needed"))
        missing = [r.index for r in readings if r.faces == 0]
        if len(missing) > rules.max_no_face * len(readings):
            reasons.append(Reason(NO_FACE, f"no face in {len(missing)} of {len(readings)} "
                                  "frames", missing))
        several = [r.index for r in readings if r.faces > 1]
        if several:
            reasons.append(Reason(MULTIPLE_FACES, "several faces in a frame", several))
        described = [(r.index, r.descriptor) for r in readings if r.descriptor is not None]
        if described:
            first = described[0][1]
            changed = [index for index, vector in described
                       if float(np.linalg.norm(vector - first)) > rules.same_person]
            if changed:
                reasons.append(Reason(IDENTITY_CHANGED, "the face changed identity during the "
                                      "sequence", changed))
        repeats = [b.index for a, b in zip(readings, readings[1:], strict=False)
                   if a.pixels_sha256 == b.pixels_sha256]
        if len(readings) > 1 and len(repeats) >= (len(readings) - 1) / 2:
            reasons.append(Reason(FRAMES_IDENTICAL, f"{len(repeats)} frames repeat the one "
                                  "before them exactly", repeats))
        return reasons


def _overlap(a: Box, b: Box | None) -> int:
    if b is None:
        return 0
    return Box(max(a.left, b.left), max(a.top, b.top), min(a.right, b.right),
               min(a.bottom, b.bottom)).area


def _best(readings: list[FrameReading], series: EyeSeries) -> int | None:
    scored = [
        (float(np.nanmean([series.right[r.index], series.left[r.index]]))
         - abs(r.geometry.yaw) / 90.0, r.index)
        for r in readings if r.descriptor is not None and r.geometry is not None
    ]
    return max(scored)[1] if scored else None


def _with_reasons(report: SequenceReport, reasons: list[Reason]) -> SequenceReport:
    return SequenceReport(
        live=not reasons, frames=report.frames, series=report.series, events=report.events,
        reasons=reasons, fps=report.fps, best_frame=report.best_frame,
        timings=report.timings)
