"""Liveness frames followed by BlazeFace short-range (``liveness.detector = blazeface``, the
default, ``pipeline.track``) get the verdicts, events and boxes of HOG on every searched frame
(``liveness.detector = hog``), with HOG run only where the face moved, on real clip frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from liveness_frames import folder_files

from facegate.bootstrap import liveness_service
from facegate.config import Settings
from facegate.services.liveness import LivenessService, SequenceReport

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def services() -> tuple[LivenessService, LivenessService]:
    tracked = liveness_service(Settings())
    hog = liveness_service(Settings(liveness={"detector": "hog"}))
    assert tracked.quick_detector is not None and hog.quick_detector is None
    return tracked, hog


def _events(report: SequenceReport) -> list[tuple[str, str, int, int]]:
    return [(e.kind, e.eye, e.closed_start, e.closed_end) for e in report.events]


@pytest.mark.parametrize("clip", ["liveportrait_d18_blink", "liveportrait_d19_winks"])
def test_tracked_frames_get_hogs_verdict_events_and_boxes(
        services: tuple[LivenessService, LivenessService], shared_faces: Path,
        clip: str) -> None:
    tracked, hog = services
    files = folder_files(shared_faces / "blink" / "frames" / clip)
    frames = tracked.decode_frames([f.read_bytes() for f in files])
    fast, slow = tracked.blink(frames), hog.blink(frames)
    assert fast.live is slow.live and _events(fast) == _events(slow), (fast.events, slow.events)
    assert [r.code for r in fast.reasons] == [r.code for r in slow.reasons]
    hog_boxes = {r.box for r in slow.frames}
    assert all(r.faces == 1 for r in fast.frames)
    assert {r.box for r in fast.frames} <= hog_boxes  # held boxes are HOG's own
    searched = sum(r.searched for r in fast.frames)
    assert searched < sum(r.searched for r in slow.frames) / 2, searched  # the face kept still
    right = np.array([r.geometry.right_eye for r in fast.frames if r.geometry])
    assert len(right) == len(frames)


def test_a_second_face_coming_in_is_counted_at_once(
        services: tuple[LivenessService, LivenessService], shared_faces: Path) -> None:
    tracked, _ = services
    blink = shared_faces / "blink" / "frames"
    d18 = tracked.decode_frames([f.read_bytes() for f in
                                 folder_files(blink / "liveportrait_d18_blink")[:20]])
    d19 = tracked.decode_frames([f.read_bytes() for f in
                                 folder_files(blink / "liveportrait_d19_winks")[:20]])
    # d18 alone, then d19 beside them from frame 10 on (same size: the d18 face stays put)
    pair = [np.hstack([a, b]) for a, b in zip(d18, d19, strict=True)]
    alone = [np.hstack([a, np.zeros_like(b)]) for a, b in zip(d18, d19, strict=True)]
    report = tracked.blink(alone[:10] + pair[10:])
    assert [r.faces for r in report.frames[:10]] == [1] * 10
    assert [r.faces for r in report.frames[10:]] == [2] * 10
    several = next(r for r in report.reasons if r.code == "MULTIPLE_FACES")
    assert several.frames[0] == 10
