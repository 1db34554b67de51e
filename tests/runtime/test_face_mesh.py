"""The face mesh and iris refinement on real faces: points on the face, eyes open vs closed.

Boxes come from facegate's HOG detector, as the pipeline gives them. The mesh's eye corners must
land near dlib's 5-point eye corners (a model trained on other data), each iris centre between
its eye's corners, and the eye aspect ratio of the refined mesh must separate open from closed
eyes: ``../shared/faces/blink/frames/liveportrait_d18_blink`` (both eyes closed in frames 94-97,
open up to 92 and from 100) and the open / closed stills of ``../shared/faces/eyes`` (the winks,
one eye shut, are left out). The mesh's face score tells a face crop from none: the centre of
every photo in ``../shared/faces/negatives`` scores under 0.05. Measured: open frames >= 0.268,
closed <= 0.168 (mean of the two eyes); stills, the more closed eye: open >= 0.225, closed
<= 0.152; negatives <= 0.033. Turned 35 degrees, a registry face's mesh eye corners stay within
0.06 inter-ocular distances of dlib's 5 points turned alike (0.07-0.18 without the second pass).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from facegate.bootstrap import shared_models
from facegate.domain import Box, RGBImage
from facegate.runtime.face_mesh import FaceMesh, Roi, eye_openness
from facegate.runtime.mesh_eyes import IrisRefiner, RefinedMesh
from runtime.mediapipe_inputs import load_photos

BLINK = "blink/frames/liveportrait_d18_blink"
CLOSED_FRAMES = range(94, 98)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[FaceMesh, IrisRefiner]:
    cache = tmp_path_factory.mktemp("models")
    return FaceMesh(cache_dir=cache), IrisRefiner(cache_dir=cache)


def refined(models: tuple[FaceMesh, IrisRefiner], rgb: RGBImage) -> RefinedMesh:
    found = shared_models().detect(rgb, upsample=1) or shared_models().detect(rgb, upsample=2)
    assert found, "HOG finds the face"
    box = max(found, key=lambda item: item[0].area)[0]
    mesh, refiner = models[0].mesh(rgb, box), models[1]
    assert mesh.score > 0.9
    return refiner.refine(rgb, mesh)


def test_mesh_lands_on_every_registry_face(faces: Path,
                                           models: tuple[FaceMesh, IrisRefiner]) -> None:
    mesh, refiner = models
    count = 0
    for rgb in load_photos(faces):
        for box, _ in shared_models().detect(rgb, upsample=1):
            result = mesh.mesh(rgb, box)
            assert result.score > 0.9
            five = np.asarray(shared_models().landmarks(rgb, box))
            corners = result.points[[263, 362, 33, 133], :2]
            assert np.linalg.norm(corners - five[:4], axis=1).max() < 0.06 * box.width
            eyes = refiner.refine(rgb, result)
            for iris, (a, b) in zip(eyes.irises, ((33, 133), (362, 263)), strict=True):
                low = np.minimum(eyes.points[a, :2], eyes.points[b, :2])
                high = np.maximum(eyes.points[a, :2], eyes.points[b, :2])
                assert low[0] < iris[0, 0] < high[0]
            count += 1
    assert count == 9


def test_second_pass_follows_a_tilted_head(faces: Path,
                                           models: tuple[FaceMesh, IrisRefiner]) -> None:
    for rgb in load_photos(faces)[:3]:  # one face each
        (box, _), = shared_models().detect(rgb, upsample=1)
        five = np.asarray(shared_models().landmarks(rgb, box))[:4]
        height, width = rgb.shape[:2]
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), 35.0, 1.0)
        tilted = np.ascontiguousarray(cv2.warpAffine(rgb, turn, (width, height)))
        expected = five @ turn[:, :2].T + turn[:, 2]
        middle = np.array([box.left + box.right, box.top + box.bottom]) / 2.0
        cx, cy = middle @ turn[:, :2].T + turn[:, 2]
        half = box.width / 2  # the detector's box of the tilted face: same size, upright
        upright = Box(int(cx - half), int(cy - half), int(cx + half), int(cy + half))
        mesh = models[0].mesh(tilted, upright)
        error = np.linalg.norm(mesh.points[[263, 362, 33, 133], :2] - expected, axis=1)
        assert error.mean() < 0.08 * np.linalg.norm(expected[0] - expected[2])


@pytest.mark.shared
def test_refined_eyes_separate_open_from_closed(shared_faces: Path,
                                                models: tuple[FaceMesh, IrisRefiner]) -> None:
    frames: dict[int, float] = {}
    for path in sorted((shared_faces / BLINK).glob("frame_*.jpg")):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        frames[int(path.stem.split("_")[1])] = float(np.mean(eye_openness(
            refined(models, rgb).points)))
    closed = [frames[i] for i in CLOSED_FRAMES]
    opened = [value for i, value in frames.items() if i <= 92 or i >= 100]
    assert len(closed) == 4 and len(opened) == 25
    assert max(closed) < 0.75 * min(opened)
    stills = {kind: [min(eye_openness(refined(
        models, np.asarray(Image.open(path).convert("RGB"))).points))
        for path in sorted((shared_faces / "eyes" / kind).iterdir()) if "wink" not in path.name]
        for kind in ("open", "closed")}
    assert len(stills["open"]) == 8 and len(stills["closed"]) == 9
    assert max(stills["closed"]) < 0.8 * min(stills["open"])


@pytest.mark.shared
def test_face_score_is_low_without_a_face(shared_faces: Path,
                                          models: tuple[FaceMesh, IrisRefiner]) -> None:
    scores = []
    for path in sorted((shared_faces / "negatives").iterdir()):
        if path.suffix.lower() not in {".jpg", ".jpeg", ".png"}:
            continue
        rgb = np.asarray(Image.open(path).convert("RGB"))
        height, width = rgb.shape[:2]
        centre = Roi((width - 1) / 2.0, (height - 1) / 2.0, min(width, height) * 0.75)
        scores.append(models[0].mesh_at(rgb, centre).score)
    assert len(scores) >= 15
    assert max(scores) < 0.05
