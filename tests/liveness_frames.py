"""Real frames of the ``../shared/faces/blink`` clips for the liveness tests."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from facegate.pipeline.video import decode_video


@cache
def video_frames(path: Path) -> tuple[list[NDArray[np.uint8]], float]:
    return decode_video(path.read_bytes(), max_frames=1000, max_pixels=10_000_000)


def jpeg(rgb: NDArray[np.uint8], *, mirror: bool = False) -> bytes:
    image = Image.fromarray(rgb)
    if mirror:
        image = ImageOps.mirror(image)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def folder_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("frame_*.jpg"))


def frame_number(path: Path) -> int:
    """``frame_0093.jpg`` → 93: the clip's own 0-based frame index (as OpenCV decodes it)."""
    return int(path.stem.split("_")[1])


def held_photo(path: Path, *, count: int, seed: int) -> list[bytes]:
    """A printed photo held to a camera: the same picture slightly moved and scaled."""
    photo = Image.open(path).convert("RGB")
    width, height = photo.size
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        scale = 1 + float(rng.uniform(-0.06, 0.06))
        dx, dy = (int(v) for v in rng.integers(-12, 13, 2))
        moved = photo.resize((round(width * scale), round(height * scale)),
                             Image.Resampling.BILINEAR)
        canvas = Image.new("RGB", (width, height))
        canvas.paste(moved, (dx - (moved.width - width) // 2, dy - (moved.height - height) // 2))
        buffer = io.BytesIO()
        canvas.save(buffer, format="JPEG", quality=92)
        frames.append(buffer.getvalue())
    return frames
