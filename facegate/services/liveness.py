"""Liveness over a sequence of frames: who is in every frame, their eyes, mouth and head pose,
and the checks every live sequence must pass (see ``docs/liveness.md``).

The work runs in the calling thread (the server's model threads), not in the face worker
processes: a sequence's frames share one face track, and shipping the decoded frames between
processes would cost more than the detection saves.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from facegate.domain import Descriptor, RGBImage, Timings
from facegate.errors import TooManyFramesError, ValidationError
from facegate.pipeline.detect import Detector
from facegate.pipeline.faces import FacePipeline
from facegate.pipeline.liveness.blinks import (
    LID_IRIS_RULES,
    BlinkRules,
    EyeEvent,
    EyeSeries,
    find_events,
    relative_openness,
)
from facegate.pipeline.liveness.geometry import EyeMeasure, Landmarker68
from facegate.pipeline.track import FaceTrack
from facegate.pipeline.video import Sampling
from facegate.services.liveness_inputs import Frames, InputLimits, decode_frames, read_video
from facegate.services.liveness_read import FrameReading as FrameReading
from facegate.services.liveness_read import Runner, read_frames

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
    #: Frames of a frame list at most: a longer one is refused (``inputs``).
    max_frames: int = 300
    #: Frames of a video analysed: a longer video is sampled (at most ``max_frames``).
    video_frames: int = 150
    #: Frames decoded from one video at most.
    max_video_frames: int = 3600
    #: Frames are read downscaled to this longer side (0: never).
    max_side: int = 640
    #: Decoded pixels of a whole sequence (100 M: 300 frames of 640x480, ~300 MB as RGB).
    max_sequence_pixels: int = 100_000_000
    #: Frames per second assumed for a frame list (a video brings its own).
    default_fps: float = 30.0
    #: A descriptor on every n-th frame with a face (and the last), for the same-person check.
    descriptor_every: int = 5
    #: ... but at most this many, evenly spread (a long sampled video).
    max_descriptors: int = 24
    #: Euclidean distance over which two frames' faces are not the same person.
    same_person: float = 0.6
    #: Frames without a face tolerated, as a share of the sequence.
    max_no_face: float = 0.25
    #: Blink rules for each eye measure (``pipeline.liveness.geometry``): the eye aspect
    #: ratio of the 68 points (dlib's model), the lid gap over the iris (mesh + iris).
    blinks: BlinkRules = field(default_factory=BlinkRules)
    lid_iris_blinks: BlinkRules = LID_IRIS_RULES
    #: Every n-th frame is searched for faces; those between take the box of the frame before
    #: (``pipeline.track``; 1: every frame). 2 keeps every verdict of the annotated clips.
    search_every: int = 2
    #: With a quick detector, a searched frame keeps the frame before's box while the quick
    #: detector's box moved by at most this share of the face (``pipeline.track``).
    track_hold: float = 0.02
    #: Threads one check reads its frames' points on (``services.liveness_read``; 1: the
    #: calling thread alone). The answers are the same bits whatever the count.
    threads: int = 1

    def blinks_for(self, measure: EyeMeasure) -> BlinkRules:
        return self.lid_iris_blinks if measure == "lid_iris" else self.blinks

    @property
    def inputs(self) -> InputLimits:
        return InputLimits(max_frames=self.max_frames, video_frames=self.video_frames,
                           max_video_frames=self.max_video_frames,
                           max_side=self.max_side, max_sequence_pixels=self.max_sequence_pixels)


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str
    frames: list[int] = field(default_factory=list)


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
    #: For a video: how the frames were sampled from it.
    sampling: Sampling | None = None

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
    #: Says on each searched frame whether the face moved; the pipeline's finder runs only
    #: when it did (``pipeline.track``; None: on every searched frame).
    quick_detector: Detector | None = None

    def warm_up(self) -> None:
        """Load the quick detector now (a server, before ready): it searches a blank frame."""
        if self.quick_detector is not None:
            self.quick_detector.detect(np.zeros((128, 128, 3), dtype=np.uint8), upsample=0)

    # -- inputs -----------------------------------------------------------------------------
    def decode_frames(self, images: list[bytes]) -> list[RGBImage]:
        """Each image decoded with the photo limits and downscaled to ``max_side``, and all of
        them within ``max_sequence_pixels`` (checked from each header before it is decoded)."""
        return decode_frames(images, self.rules.inputs, max_upload_bytes=self.max_upload_bytes,
                             max_pixels=self.max_pixels)

    def decode_video(self, data: bytes) -> tuple[list[RGBImage], float]:
        clip = self.read_video(data)
        return clip.rgb, clip.fps or self.rules.default_fps

    def read_video(self, data: bytes, *, fps: float | None = None) -> Frames:
        """The video's frames, downscaled and sampled past ``video_frames`` (docs/api.md)."""
        return read_video(data, self.rules.inputs, fps=fps, max_pixels=self.max_pixels)

    def read(self, images: list[bytes], video: bytes | None, fps: float | None) -> Frames:
        """What a request sent: ``video`` when given, else the ``images`` in order."""
        if video is not None:
            return self.read_video(video, fps=fps)
        return Frames(self.decode_frames(images), fps)

    # -- the blink check ----------------------------------------------------------------------
    def blink(self, frames: list[RGBImage], *, fps: float | None = None,
              sampling: Sampling | None = None) -> SequenceReport:
        """Live when the common checks pass and at least one full blink (both eyes) is seen."""
        return blink_verdict(self.analyze(frames, fps=fps, sampling=sampling))

    def analyze(self, frames: list[RGBImage], *, fps: float | None = None,
                sampling: Sampling | None = None) -> SequenceReport:
        """Every frame read and the checks any live sequence must pass; no action required."""
        if not frames:
            raise ValidationError("send at least one frame")
        if len(frames) > self.rules.max_frames:
            raise TooManyFramesError(f"at most {self.rules.max_frames} frames are read",
                                     details={"limit_frames": self.rules.max_frames})
        timings = Timings()
        track = FaceTrack(self.pipeline.finder, search_every=self.rules.search_every,
                          quick=self.quick_detector, hold=self.rules.track_hold)
        readings = read_frames(frames, track=track, shapes=self.shapes,
                               threads=self.rules.threads, timings=timings)
        started = time.perf_counter()
        self._embed_some(frames, readings)
        timings.add("embed", (time.perf_counter() - started) * 1000.0)
        report = self.judge(readings, fps=fps, timings=timings, sampling=sampling)
        logger.info("liveness: %d frames, %d events, %d reasons", len(frames),
                    len(report.events), len(report.reasons))
        return report

    def judge(self, readings: list[FrameReading], *, fps: float | None,
              timings: Timings | None = None, sampling: Sampling | None = None
              ) -> SequenceReport:
        """The checks on frames already read (``readings[i].index == i``): eye events against
        the local open level, and the common reasons. ``blink_verdict`` adds the blink's."""
        rate = fps if fps and fps > 0 else self.rules.default_fps
        right = np.array([r.geometry.right_eye if r.geometry else np.nan for r in readings])
        left = np.array([r.geometry.left_eye if r.geometry else np.nan for r in readings])
        measured: EyeMeasure = next(
            (r.geometry.eye_measure for r in readings if r.geometry), "ear")
        blinks = self.rules.blinks_for(measured)
        series = relative_openness(right, left, fps=rate, rules=blinks)
        events = find_events(series, fps=rate, rules=blinks)
        reasons = self._common_reasons(readings)
        return SequenceReport(
            live=not reasons, frames=readings, series=series, events=events, reasons=reasons,
            fps=rate, best_frame=_best(readings, series), timings=timings or Timings(),
            sampling=sampling)

    def _embed_some(self, frames: list[RGBImage], readings: list[FrameReading]) -> None:
        """Descriptors of every ``descriptor_every``-th frame with a face, and the last: read by
        the same pipeline as verify and identify (alignment, augmentation), so the best
        frame's descriptor can be held against the gallery."""
        with_face = [r for r in readings if r.box is not None]
        every = max(self.rules.descriptor_every, -(-len(with_face) // self.rules.max_descriptors))
        chosen = with_face[::every]
        if with_face and with_face[-1] not in chosen:
            chosen.append(with_face[-1])
        with Runner(self.rules.threads) as runner:
            for reading in chosen:
                runner.run(self._embed, frames[reading.index], reading)

    def _embed(self, rgb: RGBImage, reading: FrameReading) -> None:
        if reading.box is not None:
            reading.descriptor = self.pipeline.analyze_at(rgb, [(reading.box, 0.0)])[0].descriptor

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


def blink_verdict(report: SequenceReport) -> SequenceReport:
    """The blink check's answer: ``report`` with NO_BLINK added when no full blink is seen."""
    reasons = list(report.reasons)
    if not report.blinks and not any(r.code == TOO_FEW_FRAMES for r in reasons):
        winks = sum(event.kind == "wink" for event in report.events)
        reasons.append(Reason(NO_BLINK, "no full blink (both eyes closing, then opening) "
                              f"was seen ({winks} wink(s))"))
    return _with_reasons(report, reasons)


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
        timings=report.timings, sampling=report.sampling)
