"""Blink liveness on the real clips of ``../shared/faces/blink`` and ``eyes`` (issue 6), plus the
pure sequence rules. Real models throughout: dlib HOG, the 68 landmarks of the configured source
(the face mesh + iris by default; ``FACEGATE_MODELS__LANDMARKS68=dlib`` runs the same tests on
dlib's 68-point model), the ONNX descriptor. Where the two sources see the frames differently
(tpsmm's closures, d19's right-eye narrowing) each source's expectation is stated, checked
against the frames (docs/liveness.md).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from liveness_frames import folder_files, frame_number, held_photo, video_frames

from facegate.bootstrap import liveness_service
from facegate.config import Settings
from facegate.errors import TooManyPixelsError, VideoDecodeError
from facegate.pipeline.liveness.blinks import BlinkRules, find_events, relative_openness
from facegate.pipeline.liveness.geometry import FaceGeometry, eyes_closed_still
from facegate.services.liveness import LivenessRules, LivenessService

pytestmark = pytest.mark.shared
MESH = Settings().models.landmarks68 == "mesh"


@pytest.fixture(scope="module")
def service() -> LivenessService:
    return liveness_service(Settings())


@pytest.fixture(scope="module")
def blink_dir(shared_faces: Path) -> Path:
    return shared_faces / "blink"


def _read(service: LivenessService, files: list[Path]) -> list[np.ndarray]:
    return service.decode_frames([f.read_bytes() for f in files])


def test_d18_has_exactly_one_blink_at_frames_93_to_99(service: LivenessService,
                                                       blink_dir: Path) -> None:
    files = folder_files(blink_dir / "frames" / "liveportrait_d18_blink")
    report = service.blink(_read(service, files))
    assert report.live, report.reasons
    assert [e.kind for e in report.events] == ["blink"]
    blink = report.events[0]
    span = (frame_number(files[blink.start]), frame_number(files[blink.end]))
    closed = (frame_number(files[blink.closed_start]), frame_number(files[blink.closed_end]))
    assert 93 <= span[0] <= 94 and 97 <= span[1] <= 99, span  # the clip's own frame numbers
    assert closed[0] >= 93 and closed[1] <= 99 and closed[1] - closed[0] >= 2, closed
    assert blink.eye == "both" and blink.depth < 0.55


def test_d19_winks_are_winks_not_blinks(service: LivenessService, blink_dir: Path) -> None:
    files = folder_files(blink_dir / "frames" / "liveportrait_d19_winks")
    report = service.blink(_read(service, files))
    assert not report.blinks
    winks = [e for e in report.events if e.kind == "wink"]
    assert winks, "the wink in frames 7-18 was missed"
    left = [w for w in winks if w.eye == "left"]  # the person's left eye (the image's right)
    assert left and all(5 <= frame_number(files[w.closed_start]) <= 20 for w in left)
    # the right eye narrows as far at 42-55 (the frames show it); the mesh + iris lids see it,
    # dlib's hardly do
    right = [w for w in winks if w.eye == "right"]
    assert all(40 <= frame_number(files[w.closed_start]) <= 57 for w in right)
    assert len(right) == (1 if MESH else 0), winks
    assert not report.live and [r.code for r in report.reasons] == ["NO_BLINK"]


def test_a_smile_narrowing_the_eyes_is_not_a_blink(service: LivenessService,
                                                    blink_dir: Path) -> None:
    frames, fps = video_frames(blink_dir / "videos" / "liveportrait_d19.mp4")
    report = service.blink(frames[60:115], fps=fps)  # both eyes narrow for 0.67 s at 82-101
    assert report.blinks == [], report.events


def test_tpsmm_partial_blink_is_no_full_blink(service: LivenessService, blink_dir: Path) -> None:
    """dlib's 68 points see no full blink in the clip (their lids never close on its blurry
    ~25 px eyes; the clip's README calls 19-23 a partial blink). The frames show both eyes shut
    at 20-22, 59-61, 92-94 and 149-155 (``eyes/closed`` has frame 21 as closed), and the mesh
    + iris lids find those four blinks. No eye measure on those points keeps tpsmm not live
    without losing d18's blink (``python -m bench.blink_measures``, docs/liveness.md): its
    deepest closure is as deep as d18's annotated full blink."""
    frames, fps = video_frames(blink_dir / "videos" / "tpsmm_driving.mp4")
    report = service.blink(frames, fps=fps)
    assert sum(f.geometry is not None for f in report.frames) >= 0.95 * len(frames)
    if not MESH:
        assert report.blinks == []
        assert "NO_BLINK" in [r.code for r in report.reasons]
        return
    shut = [(19, 23), (57, 62), (88, 96), (148, 156)]
    assert [next((a, b) for a, b in shut if a <= e.closed_start <= e.closed_end <= b)
            for e in report.blinks] == shut, report.events
    assert report.live, report.reasons
    d18 = service.blink(_read(service, folder_files(blink_dir / "frames" /
                                                    "liveportrait_d18_blink")))
    assert min(e.depth for e in report.blinks) <= d18.blinks[0].depth, (report.events, d18)


def test_one_photo_repeated_is_not_live(service: LivenessService, blink_dir: Path) -> None:
    photo = blink_dir / "frames" / "liveportrait_d18_blink" / "frame_0090.jpg"
    report = service.blink(service.decode_frames([photo.read_bytes()] * 15))
    assert not report.live
    assert {"FRAMES_IDENTICAL", "NO_BLINK"} <= {r.code for r in report.reasons}


@pytest.mark.parametrize("photo", ["blink/frames/liveportrait_d18_blink/frame_0090.jpg",
                                   "eyes/open/classinsights_personA_open.jpg",
                                   "eyes/closed/classinsights_personA_closed.jpg"])
def test_a_moved_and_scaled_photo_is_not_live(service: LivenessService, shared_faces: Path,
                                              photo: str) -> None:
    frames = service.decode_frames(held_photo(shared_faces / photo, count=15, seed=6))
    report = service.blink(frames)
    assert not report.live and report.blinks == []
    assert sum(f.geometry is not None for f in report.frames) == 15  # a face was seen


def test_identity_change_several_faces_and_too_few_frames(service: LivenessService,
                                                          blink_dir: Path) -> None:
    d18 = _read(service, folder_files(blink_dir / "frames" / "liveportrait_d18_blink")[:10])
    d19 = _read(service, folder_files(blink_dir / "frames" / "liveportrait_d19_winks")[:10])
    codes = {r.code for r in service.blink(d18 + d19).reasons}
    assert "IDENTITY_CHANGED" in codes
    pair = [np.hstack([a, b]) for a, b in zip(d18, d19, strict=True)]
    report = service.blink(pair)
    assert "MULTIPLE_FACES" in {r.code for r in report.reasons}
    assert "TOO_FEW_FRAMES" in {r.code for r in service.blink(d18[:3]).reasons}


def test_no_face(service: LivenessService, shared_faces: Path) -> None:
    scene = sorted((shared_faces / "negatives").iterdir())[0]
    report = service.blink(service.decode_frames([scene.read_bytes()] * 8))
    assert "NO_FACE" in {r.code for r in report.reasons} and not report.live


@pytest.mark.parametrize("source", ["dlib", "mesh"])
def test_eye_openness_separates_open_from_closed_stills(shared_faces: Path, source: str) -> None:
    service = liveness_service(Settings(models={"landmarks68": source}))
    ratios: dict[str, list[float]] = {"open": [], "closed": []}
    verdicts: dict[str, list[FaceGeometry]] = {"open": [], "closed": []}
    for state in ratios:
        for path in sorted((shared_faces / "eyes" / state).iterdir()):
            geometry = service.analyze(service.decode_frames([path.read_bytes()])).frames[0]
            assert geometry.geometry is not None, f"no face in {path.name}"
            assert geometry.geometry.eye_measure == ("lid_iris" if source == "mesh" else "ear")
            verdicts[state].append(geometry.geometry)
            ratios[state].append(min(geometry.geometry.right_eye, geometry.geometry.left_eye))
    correct = sum(not eyes_closed_still(g) for g in verdicts["open"]) + \
        sum(eyes_closed_still(g) for g in verdicts["closed"])
    total = len(verdicts["open"]) + len(verdicts["closed"])
    # Measured: 22/22 (EAR at 0.25 on dlib's points, lid gap over iris at 0.49 on the mesh's),
    # and every open still above every closed one (docs/liveness.md).
    assert correct / total >= 0.95, (correct, total)
    assert min(ratios["open"]) > max(ratios["closed"])


def test_a_sequence_has_a_pixel_budget(service: LivenessService, blink_dir: Path) -> None:
    small = dataclasses.replace(service, rules=LivenessRules(max_sequence_pixels=1_000_000))
    files = folder_files(blink_dir / "frames" / "liveportrait_d18_blink")
    assert len(small.decode_frames([f.read_bytes() for f in files[:4]])) == 4  # 4 x 480x480
    with pytest.raises(TooManyPixelsError):
        small.decode_frames([f.read_bytes() for f in files[:5]])
    with pytest.raises(TooManyPixelsError):
        small.decode_video((blink_dir / "videos" / "liveportrait_d18.mp4").read_bytes())
    with pytest.raises(VideoDecodeError):
        small.decode_video(b"\x00\x00\x00\x18ftypmp42 truncated")


def test_opencv_frame_indices_match_the_frame_files(blink_dir: Path) -> None:
    frames, fps = video_frames(blink_dir / "videos" / "liveportrait_d18.mp4")
    assert fps == pytest.approx(30.0)
    stored = np.asarray(_pil(blink_dir / "frames" / "liveportrait_d18_blink" / "frame_0093.jpg"))
    errors = [float(np.abs(stored.astype(int) - frames[i].astype(int)).mean())
              for i in (92, 93, 94)]
    assert errors.index(min(errors)) == 1, errors


def _pil(path: Path) -> object:
    from PIL import Image

    return Image.open(path).convert("RGB")


def test_cli_json_on_a_frames_folder(blink_dir: Path) -> None:
    folder = blink_dir / "frames" / "liveportrait_d18_blink"
    done = subprocess.run([sys.executable, "-m", "facegate", "liveness", str(folder), "--json"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    body = json.loads(done.stdout)
    assert body["live"] is True and len(body["blinks"]) == 1 and body["winks"] == []
    assert body["files"][body["blinks"][0]["closed_start"]] >= "frame_0093.jpg"
    assert len(body["frames"]) == 32 and body["frames"][0]["right_eye"] > 0.2


# -- the sequence rules alone (no model) --------------------------------------------------------

def _events(right: list[float], left: list[float], fps: float = 30.0) -> list[tuple[str, str]]:
    series = relative_openness(np.array(right), np.array(left), fps=fps, rules=BlinkRules())
    return [(e.kind, e.eye) for e in find_events(series, fps=fps, rules=BlinkRules())]


def test_rules_blink_wink_and_squint() -> None:
    open_ = [0.3] * 10
    assert _events(open_ + [0.12, 0.1, 0.12] + open_, open_ + [0.13, 0.1, 0.11] + open_) == \
        [("blink", "both")]
    assert _events(open_ + [0.29, 0.28, 0.29] + open_, open_ + [0.1, 0.1, 0.1] + open_) == \
        [("wink", "left")]
    squint = [0.12] * 20  # 0.67 s closed: longer than a blink
    assert _events(open_ + squint + open_, open_ + squint + open_) == []
    slow = [0.2] * 8 + [0.12] * 3 + [0.2] * 8  # narrowed for 0.63 s around a short closure
    assert _events(open_ + slow + open_, open_ + slow + open_) == []
    assert _events([0.1] * 3 + open_, [0.1] * 3 + open_) == []  # never seen open before
    narrow = [0.15] * 10  # naturally narrow eyes: judged against their own baseline
    assert _events(narrow + [0.06, 0.05] + narrow, narrow + [0.06, 0.05] + narrow) == \
        [("blink", "both")]
