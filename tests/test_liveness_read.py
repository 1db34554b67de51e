"""The fast liveness path against the full one, on real annotated clips of
``../shared/faces/blink`` with the default settings (BlazeFace short-range track, face mesh
+ iris):

- frames read on several threads (``liveness.threads``; the default is every core) give what
  one thread reading them in order gives (``services/liveness_read``): every frame's box,
  whether it was searched, its 68 points, both eyes' openness, its descriptor and its pixel
  hash are the same bits, so every event and verdict is the same (three threads on this
  2-core machine: frames finish out of order);
- the landmark models as converted for speed (PRELU as max / Relu, Sub, Mul, Add; both eyes in
  one iris call) against the models converted with ONNX's PRelu (the converter before): every
  frame's openness the same bits, and so the same events, blink frames and verdict.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from liveness_frames import folder_files, video_frames

from facegate.bootstrap import liveness_service
from facegate.config import Settings
from facegate.runtime.mediapipe_weights import (
    CONVERTER_VERSION,
    FACE_MESH,
    IRIS,
    MediapipeWeight,
    read_tflite,
)
from facegate.runtime.mesh_landmarks68 import MeshLandmarks68
from facegate.runtime.model_cache import cached_conversion
from facegate.runtime.tflite_format import parse_model
from facegate.runtime.tflite_onnx import build_model
from facegate.services.liveness import LivenessService, SequenceReport

pytestmark = pytest.mark.shared

#: clip → its verdict with the default settings (tests/test_liveness_window.py has them all).
CLIPS = {"frames/liveportrait_d18_blink": True, "frames/liveportrait_d19_winks": False,
         "videos/tpsmm_driving.mp4": True}


@pytest.fixture(scope="module")
def services() -> tuple[LivenessService, LivenessService]:
    threaded = liveness_service(Settings(liveness={"threads": 3}))
    assert threaded.rules.threads == 3
    assert liveness_service(Settings()).rules.threads >= 1
    return dataclasses.replace(threaded, rules=dataclasses.replace(threaded.rules, threads=1)), \
        threaded


@pytest.fixture(scope="module")
def plain(services: tuple[LivenessService, LivenessService],
          tmp_path_factory: pytest.TempPathFactory) -> LivenessService:
    """One thread, the face mesh and iris converted with ONNX's PRelu (the converter before),
    put in a model cache of its own so they load as the server loads its models."""
    folder = tmp_path_factory.mktemp("plain-models")

    def plain_model(weight: MediapipeWeight) -> bytes:
        model = build_model(parse_model(read_tflite(weight)), weight.key, fast_prelu=False,
                            dynamic_batch=True)
        return bytes(model.SerializeToString())

    for weight in (FACE_MESH, IRIS):
        cached_conversion(folder, weight.file.removesuffix(".tflite"), read_tflite(weight),
                          CONVERTER_VERSION, lambda _source, w=weight: plain_model(w))
    return dataclasses.replace(services[0], shapes=MeshLandmarks68(cache_dir=folder))


def _frames(service: LivenessService, path: Path) -> tuple[list[np.ndarray], float | None]:
    if path.suffix == ".mp4":
        return video_frames(path)
    return service.decode_frames([f.read_bytes() for f in folder_files(path)]), None


def _facts(report: SequenceReport) -> list[tuple[object, ...]]:
    return [(r.index, r.faces, r.box, r.searched, r.pixels_sha256,
             None if r.points is None else r.points.tobytes(),
             None if r.geometry is None else (r.geometry.right_eye, r.geometry.left_eye,
                                              r.geometry.eye_measure, r.geometry.yaw),
             None if r.descriptor is None else r.descriptor.tobytes())
            for r in report.frames]


@pytest.mark.parametrize("clip", sorted(CLIPS))
def test_the_fast_path_gets_the_full_paths_openness_blinks_and_verdict(
        services: tuple[LivenessService, LivenessService], plain: LivenessService,
        shared_faces: Path, clip: str) -> None:
    alone, threaded = services
    frames, fps = _frames(alone, shared_faces / "blink" / clip)
    one, several = alone.blink(frames, fps=fps), threaded.blink(frames, fps=fps)
    before = plain.blink(frames, fps=fps)
    assert before.live is several.live and before.events == several.events
    assert [(b.closed_start, b.closed_end) for b in before.blinks] == \
        [(b.closed_start, b.closed_end) for b in several.blinks]
    assert _facts(before) == _facts(several)
    assert several.live is one.live is CLIPS[clip], (several.reasons, several.events)
    assert _facts(several) == _facts(one)
    assert several.events == one.events and several.best_frame == one.best_frame
    assert [r.code for r in several.reasons] == [r.code for r in one.reasons]
    assert all(r.geometry is not None for r in several.frames)
    assert {"read", "detect", "landmarks", "embed"} <= set(several.timings.stages)


def test_an_error_in_a_frame_reaches_the_caller(
        services: tuple[LivenessService, LivenessService], shared_faces: Path) -> None:
    """A frame the landmark models cannot take (one channel, after a frame with a face: it
    keeps that box) fails the request in its worker thread, and the caller gets the error."""
    _, threaded = services
    frames, _ = _frames(threaded, shared_faces / "blink" / "frames/liveportrait_d18_blink")
    broken = [*frames[:9], frames[9][:, :, :1].copy(), *frames[10:12]]
    with pytest.raises(Exception):  # noqa: B017,PT011 - whatever OpenCV or numpy raises
        threaded.blink(broken)
