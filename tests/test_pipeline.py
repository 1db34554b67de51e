"""FacePipeline on real photos with the real dlib models: detection, landmarks, descriptors,
downscaled detection, tight crops (pad and retry) and quality signals."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFilter

from facegate.bootstrap import shared_models
from facegate.domain import DESCRIPTOR_SIZE, Box, Face, RGBImage
from facegate.matching import distance
from facegate.pipeline.detect import FaceFinder, Point
from facegate.pipeline.faces import FacePipeline

BILINEAR = Image.Resampling.BILINEAR
Photo = Callable[[str], RGBImage]
Analyzed = Callable[[str], tuple[Face, ...]]


def pipeline(**finder: Any) -> FacePipeline:
    models = shared_models()
    return FacePipeline(finder=FaceFinder(models, **finder),
                        landmarker=models, aligner=models, embedder=models)


@pytest.fixture(scope="module")
def photo(faces: Path) -> Photo:
    @cache
    def load(name: str) -> RGBImage:
        with Image.open(faces / name) as image:
            return np.asarray(image.convert("RGB"))
    return load


@pytest.fixture(scope="module")
def analyzed(photo: Photo) -> Analyzed:
    default = pipeline()

    @cache
    def analyze(name: str) -> tuple[Face, ...]:
        return tuple(default.analyze(photo(name)))
    return analyze


def iou(a: Box, b: Box) -> float:
    inner = Box(max(a.left, b.left), max(a.top, b.top), min(a.right, b.right),
                min(a.bottom, b.bottom))
    overlap = inner.area if inner.width > 0 and inner.height > 0 else 0
    return overlap / (a.area + b.area - overlap)


def inside(box: Box, width: int, height: int) -> bool:
    return 0 <= box.left < box.right <= width and 0 <= box.top < box.bottom <= height


@pytest.mark.parametrize("name", ["group6.jpg", "obama_partial.jpg", "obama2.jpg"])
def test_boxes_and_landmarks_lie_in_the_photo(name: str, photo: Photo, analyzed: Analyzed) -> None:
    height, width = photo(name).shape[:2]
    found = analyzed(name)
    assert len(found) == (6 if name == "group6.jpg" else 1)
    for face in found:
        box = face.detection.box
        assert inside(box, width, height)
        assert len(face.detection.landmarks) == 5
        assert all(box.left <= x < box.right and box.top <= y < box.bottom
                   for x, y in face.detection.landmarks)
        assert face.detection.score > 0
        assert face.chip.shape == (150, 150, 3) and face.chip.dtype == np.uint8


def test_group_faces_are_distinct_and_batched_like_single_chips(analyzed: Analyzed) -> None:
    group = analyzed("group6.jpg")
    boxes = [face.detection.box for face in group]
    assert all(iou(a, b) == 0 for i, a in enumerate(boxes) for b in boxes[i + 1:])
    for face in group[:2]:  # one batched call gives what one call per chip gives
        alone = shared_models().embed([face.chip])[0]
        assert np.allclose(alone, face.descriptor, atol=1e-5)
    assert min(distance(group[0].descriptor, other.descriptor) for other in group[1:]) > 0.3


def test_faces_come_largest_first_not_in_detector_order(faces: Path) -> None:
    with Image.open(faces / "obama2.jpg") as small, Image.open(faces / "biden.jpg") as large:
        left = small.convert("RGB").crop((60, 200, 560, 700)).resize((250, 250))
        right = large.convert("RGB").crop((300, 120, 860, 680))
    canvas = Image.new("RGB", (850, 560), (128, 128, 128))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (290, 0))
    rgb = np.asarray(canvas)
    detector_order = [box for box, _ in FaceFinder(shared_models()).locate(rgb)]
    found = pipeline().analyze(rgb)
    areas = [face.detection.box.area for face in found]
    assert len(found) == 2 and areas == sorted(areas, reverse=True)
    assert detector_order[0].area < detector_order[1].area  # the sort is really needed here
    assert found[0].detection.box.left >= 290


def test_descriptors_are_float32_and_deterministic(photo: Photo, analyzed: Analyzed) -> None:
    face = analyzed("obama.jpg")[0]
    assert face.descriptor.dtype == np.float32 and face.descriptor.shape == (DESCRIPTOR_SIZE,)
    again = pipeline().analyze(photo("obama.jpg"))[0]
    assert np.array_equal(face.descriptor, again.descriptor)
    assert again.detection == face.detection
    detected = pipeline().detect(photo("obama.jpg"))
    assert [f.detection for f in detected] == [face.detection]
    assert detected[0].descriptor.size == 0  # detect() skips the embedding


def test_same_person_is_near_and_another_person_is_far(analyzed: Analyzed) -> None:
    obama, obama2 = analyzed("obama.jpg")[0], analyzed("obama2.jpg")[0]
    biden = analyzed("biden.jpg")[0]
    assert distance(obama.descriptor, obama2.descriptor) < 0.6
    assert distance(obama.descriptor, analyzed("obama3.jpg")[0].descriptor) < 0.6
    assert distance(obama.descriptor, biden.descriptor) > 0.6
    assert distance(obama2.descriptor, biden.descriptor) > 0.6


def test_large_photo_is_detected_downscaled_with_boxes_in_original_pixels(photo: Photo) -> None:
    rgb = photo("obama3.jpg")  # 1434 x 2333
    full = pipeline(max_side=4000).analyze(rgb)
    small = pipeline(max_side=400).analyze(rgb)
    assert len(full) == len(small) == 1
    assert iou(full[0].detection.box, small[0].detection.box) > 0.8
    assert small[0].detection.box.right > 400  # not left in the downscaled copy's pixels
    assert distance(full[0].descriptor, small[0].descriptor) < 0.3


def _tight_crop(rgb: RGBImage, face: Face, *, shrink: float) -> tuple[RGBImage, list[Point]]:
    """The face box (shrunk by ``shrink`` per side) resized to 150x150, and where the face's
    landmarks land in it."""
    box = face.detection.box
    dx, dy = round(box.width * shrink), round(box.height * shrink)
    left, top, right, bottom = box.left + dx, box.top + dy, box.right - dx, box.bottom - dy
    crop = Image.fromarray(rgb[top:bottom, left:right]).resize((150, 150), BILINEAR)
    scale_x, scale_y = 150 / (right - left), 150 / (bottom - top)
    marks = [((x - left) * scale_x, (y - top) * scale_y) for x, y in face.detection.landmarks]
    return np.asarray(crop), marks


@pytest.mark.parametrize("name, shrink", [("obama.jpg", 0.0), ("obama2.jpg", 0.15),
                                          ("biden.jpg", 0.15)])
def test_tight_face_crop_still_yields_its_face(
    name: str, shrink: float, photo: Photo, analyzed: Analyzed
) -> None:
    # The crop is cut around the full pass's box (the fast pass draws a looser one).
    reference = pipeline(fast_side=0).analyze(photo(name))[0]
    crop, expected_marks = _tight_crop(photo(name), reference, shrink=shrink)
    found = pipeline().analyze(crop)
    assert len(found) == 1
    box = found[0].detection.box
    assert inside(box, 150, 150) and iou(box, Box(0, 0, 150, 150)) > 0.6
    misplaced = [np.hypot(x - ex, y - ey) for (x, y), (ex, ey)
                 in zip(found[0].detection.landmarks, expected_marks, strict=True)]
    assert max(misplaced) < 12  # landmarks mapped back from the padded copy
    assert distance(found[0].descriptor, reference.descriptor) < 0.5
    if shrink:  # these crops are too tight for the full HOG pass: only the padded retry finds them
        assert pipeline(pad_retry=0.0, fast_side=0).analyze(crop) == []


def test_quality_signals_are_plausible(photo: Photo, analyzed: Analyzed) -> None:
    rgb = photo("obama.jpg")
    sharp = analyzed("obama.jpg")[0]
    box = sharp.detection.box
    assert sharp.quality.size_px == min(box.width, box.height)
    assert 0 < sharp.quality.brightness < 255 and sharp.quality.sharpness > 0
    blurred_rgb = np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(3)))
    blurred = pipeline().analyze(blurred_rgb)[0]
    assert blurred.quality.sharpness < sharp.quality.sharpness / 4
    darker = pipeline().analyze((rgb // 2).astype(np.uint8))[0]
    assert darker.quality.brightness < sharp.quality.brightness * 0.7
    small = analyzed("group6.jpg")[-1]
    assert small.quality.size_px < sharp.quality.size_px


class CountingDetector:
    """The real HOG detector, recording each scan's image size and upsampling."""

    def __init__(self) -> None:
        self.scans: list[tuple[tuple[int, ...], int]] = []

    def detect(self, rgb: RGBImage, *, upsample: int) -> list[tuple[Box, float]]:
        self.scans.append((rgb.shape[:2], upsample))
        return shared_models().detect(rgb, upsample=upsample)


def test_small_photo_is_scanned_once_upsampled(photo: Photo, analyzed: Analyzed) -> None:
    box = analyzed("obama.jpg")[0].detection.box
    margin = box.width // 2
    portrait = Image.fromarray(photo("obama.jpg")).crop(
        (box.left - margin, box.top - margin, box.right + margin, box.bottom + margin))
    # At most half of fast_side: the fast pass upsamples, which is exactly the full pass.
    small = np.asarray(portrait.resize((200, 200), BILINEAR))
    counting = CountingDetector()
    finder = FaceFinder(counting)
    assert len(finder.locate(small, every_face=True)) == 1
    assert counting.scans == [((200, 200), 1)]
    # Larger than half of fast_side: a fast pass as it is, then the upsampled full pass.
    counting.scans.clear()
    medium = np.asarray(portrait.resize((300, 300), BILINEAR))
    assert len(finder.locate(medium, every_face=True)) == 1
    assert counting.scans == [((300, 300), 0), ((300, 300), 1)]
    counting.scans.clear()
    assert len(finder.locate(medium, every_face=False)) == 1
    assert counting.scans == [((300, 300), 0)]


def test_concurrent_calls_give_what_one_call_at_a_time_gives(photo: Photo) -> None:
    names = ["group6.jpg", "obama.jpg", "biden.jpg", "obama2.jpg"] * 2
    one_at_a_time = [pipeline().analyze(photo(name)) for name in names]
    with ThreadPoolExecutor(max_workers=4) as pool:  # each thread borrows its own dlib models
        concurrent = list(pool.map(lambda name: pipeline().analyze(photo(name)), names))
    for alone, together in zip(one_at_a_time, concurrent, strict=True):
        assert [f.detection for f in alone] == [f.detection for f in together]
        assert all(np.array_equal(a.descriptor, b.descriptor)
                   for a, b in zip(alone, together, strict=True))
