"""Large photos are decoded at reduced scale with bounded intermediates; normal photos exactly
as at full resolution (so their descriptors are unchanged)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facegate.config import ImageSettings
from facegate.pipeline.image import decode_image

LIMITS = {"max_bytes": 50 * 1024 * 1024, "max_pixels": 40_000_000}
SIDE = ImageSettings().decode_max_side


def _encoded(image: Image.Image, kind: str, **options: object) -> bytes:
    """PNGs at zlib level 1 unless told: the decoded pixels are the same at every level."""
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **({"compress_level": 1} if kind == "PNG" else {}), **options)
    return buffer.getvalue()


def _forty_mp(faces: Path) -> Image.Image:
    canvas = Image.new("RGB", (7296, 5472), (90, 110, 130))
    canvas.paste(Image.open(faces / "obama.jpg").convert("RGB"), (3000, 1500))
    return canvas


@pytest.mark.parametrize("kind", ["JPEG", "PNG16", "RGBA"])
def test_forty_megapixels_decode_at_a_reduced_integer_scale(faces: Path, kind: str) -> None:
    canvas = _forty_mp(faces)
    if kind == "JPEG":
        data = _encoded(canvas, "JPEG", quality=90)
    elif kind == "PNG16":
        data = _encoded(Image.fromarray(np.asarray(canvas.convert("L"), np.uint16) * 257), "PNG")
    else:
        data = _encoded(canvas.convert("RGBA"), "PNG")
    image = decode_image(data, **LIMITS, max_side=SIDE)
    height, width = image.rgb.shape[:2]
    assert SIDE <= max(width, height) < 2 * SIDE
    assert image.rgb.dtype == np.uint8 and image.rgb.shape[2] == 3
    assert (image.width, image.height) == (7296, 5472)  # the photo's own size
    assert width == -(-7296 // image.scale)
    if kind == "JPEG":
        assert image.scale == 2  # the decoder's DCT scaling (draft), not a resize afterwards
    else:
        assert image.scale == 7296 // SIDE


def test_sixteen_bit_grey_keeps_its_levels_in_eight_bits() -> None:
    levels = np.arange(0, 65536, 257, dtype=np.uint16)  # 0, 257, ..., 65535: 256 levels
    grey = np.tile(levels, (4, 1))
    image = decode_image(_encoded(Image.fromarray(grey), "PNG"), **LIMITS, max_side=SIDE)
    assert image.rgb[0, :, 0].tolist() == list(range(256))
    assert np.array_equal(image.rgb[..., 0], image.rgb[..., 2])


def test_photos_shorter_than_twice_the_side_are_decoded_unchanged(faces: Path) -> None:
    for name in ("obama.jpg", "obama3.jpg", "biden.jpg", "group6.jpg", "32bit.png"):
        data = (faces / name).read_bytes()
        reduced = decode_image(data, **LIMITS, max_side=SIDE)
        full = decode_image(data, **LIMITS, max_side=0)
        assert reduced.scale == 1, name
        assert np.array_equal(reduced.rgb, full.rgb), name
