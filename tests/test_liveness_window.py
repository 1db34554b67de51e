"""The blink verdict holds on any window of a clip (issue 17): each annotated clip of
``../shared/faces/blink`` is read once by the real pipeline (``LivenessService.analyze`` on
its real frames), then every window whose start and end move by up to 2 s (keeping the
annotated event and 0.2 s around it) is judged by the server's own decision
(``judge`` + ``blink_verdict``) on those frames' readings, and must get the clip's verdict.

Both landmark sources run (``models.landmarks68``): dlib's 68 points (EAR), and the face mesh +
iris (lid gap over the iris diameter) fitted in the same frames' face boxes, so the detection
and descriptors are shared and only the landmarks run twice.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from liveness_frames import folder_files, video_frames

from facegate.bootstrap import liveness_service
from facegate.config import Settings
from facegate.pipeline.liveness.geometry import EyeLandmarker68, measure
from facegate.services.liveness import (
    FrameReading,
    LivenessService,
    SequenceReport,
    blink_verdict,
)

pytestmark = pytest.mark.shared

#: clip → (expected live, the annotated event's first and last frame, or None).
CLIPS: dict[str, tuple[bool, tuple[int, int] | None]] = {
    "videos/liveportrait_d18.mp4": (True, (93, 99)),
    "videos/liveportrait_d0.mp4": (True, (64, 68)),  # shut 65-66, open again from 69
    "videos/liveportrait_d19.mp4": (False, None),  # winks and a smile's narrowing
    "videos/tpsmm_driving.mp4": (False, None),  # a partial blink only
    "frames/liveportrait_d18_blink": (True, (13, 19)),  # frame_0093 .. frame_0099
    "frames/liveportrait_d19_winks": (False, None),
}
#: Where a source sees the frames otherwise: the mesh + iris lids find tpsmm's blinks (both eyes
#: shut at 20-22, 59-61, 92-94, 149-155 on the frames) that dlib's points see as partial.
SOURCE_CLIPS = {"mesh": {"videos/tpsmm_driving.mp4": (True, (86, 97))}}
SOURCES = ("dlib", "mesh")
STEP = 8  # window edges every 8 frames (every 2 in a clip under 100 frames)


@cache
def _service(source: str) -> LivenessService:
    return liveness_service(Settings(models={"landmarks68": source}))


@pytest.fixture(scope="module", params=SOURCES)
def service(request: pytest.FixtureRequest) -> LivenessService:
    return _service(request.param)


@cache
def _clip(path: Path) -> tuple[list[np.ndarray], list[FrameReading], float]:
    """The clip's frames and dlib's full reading of them (detection, landmarks, descriptors)."""
    dlib = _service("dlib")
    if path.is_dir():
        frames = dlib.decode_frames([f.read_bytes() for f in folder_files(path)])
        return frames, dlib.analyze(frames).frames, 30.0
    frames, fps = video_frames(path)
    return frames, dlib.analyze(frames, fps=fps).frames, fps


def _readings(service: LivenessService, path: Path) -> tuple[list[FrameReading], float]:
    """The clip read with ``service``'s landmarks, in the face boxes of dlib's reading."""
    frames, readings, fps = _clip(path)
    if not isinstance(service.shapes, EyeLandmarker68):
        return readings, fps
    again = []
    for reading, rgb in zip(readings, frames, strict=True):
        if reading.box is None:
            again.append(reading)
            continue
        points, eyes = service.shapes.landmarks68_eyes(rgb, reading.box)
        again.append(dataclasses.replace(reading, points=points, geometry=measure(points, eyes)))
    return again, fps


def _expected(service: LivenessService, clip: str) -> tuple[bool, tuple[int, int] | None]:
    source = "mesh" if isinstance(service.shapes, EyeLandmarker68) else "dlib"
    return SOURCE_CLIPS.get(source, {}).get(clip, CLIPS[clip])


def _verdict(service: LivenessService, readings: list[FrameReading],
             fps: float) -> SequenceReport:
    again = [dataclasses.replace(r, index=i) for i, r in enumerate(readings)]
    return blink_verdict(service.judge(again, fps=fps))


def _windows(count: int, fps: float, event: tuple[int, int] | None) -> list[tuple[int, int]]:
    two, margin, step = round(2 * fps), round(0.2 * fps), STEP if count >= 100 else 2
    last_start = min(two, event[0] - margin) if event else two
    first_end = max(count - two, event[1] + 1 + margin) if event else count - two
    return [(s, e) for s in range(0, last_start + 1, step)
            for e in range(count, first_end - 1, -step)]


@pytest.mark.parametrize("clip", list(CLIPS))
def test_every_window_of_a_clip_gets_its_verdict(service: LivenessService, shared_faces: Path,
                                                 clip: str) -> None:
    live, event = _expected(service, clip)
    readings, fps = _readings(service, shared_faces / "blink" / clip)
    whole = _verdict(service, readings, fps)
    assert whole.live is live, whole.reasons
    if event is not None:
        assert any(event[0] <= b.closed_start <= b.closed_end <= event[1] for b in whole.blinks)
    else:
        assert whole.blinks == [] and "NO_BLINK" in {r.code for r in whole.reasons}
    windows = _windows(len(readings), fps, event)
    assert len(windows) >= 9, windows
    wrong = [(s, e) for s, e in windows
             if _verdict(service, readings[s:e], fps).live is not live]
    assert wrong == [], f"{len(wrong)} of {len(windows)} windows: {wrong[:8]}"


def test_a_blink_then_eyes_kept_shut_is_found_whatever_the_end(
        service: LivenessService, shared_faces: Path) -> None:
    """d18's frames 80-110 (open, the blink at 93-99, open), then its shut frames 94-97 again
    and again for 5 s. Against a whole-sequence baseline the shut frames dragged the baseline
    down and the blink was lost once the clip ran on past ~2 s of them."""
    readings, fps = _readings(service, shared_faces / "blink" / "videos" / "liveportrait_d18.mp4")
    composed = readings[80:111] + [readings[94 + i % 4] for i in range(150)]
    for end in range(len(composed), len(composed) - round(2 * fps) - 1, -STEP):
        report = _verdict(service, composed[:end], fps)
        assert [b.closed_start for b in report.blinks] == [14], (end, report.events)
