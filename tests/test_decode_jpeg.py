"""JPEGs decoded by OpenCV give exactly Pillow's upright pixels (so descriptors are unchanged),
and damaged ones still fail as they did."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from facegate.errors import ImageDecodeError
from facegate.pipeline.image import decode_image

LIMITS = {"max_bytes": 50 * 1024 * 1024, "max_pixels": 40_000_000, "max_side": 2048}


def _jpeg(faces: Path, mode: str, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.open(faces / "obama.jpg").convert(mode).save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def _pillow(data: bytes) -> np.ndarray:
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
@pytest.mark.parametrize("orientation", [1, 3, 6])
def test_jpeg_pixels_are_pillows_upright_pixels(faces: Path, mode: str, orientation: int) -> None:
    data = _jpeg(faces, mode, orientation)
    decoded = decode_image(data, **LIMITS)
    assert decoded.format == "JPEG" and decoded.scale == 1
    expected = _pillow(data)
    assert decoded.rgb.shape == expected.shape and decoded.rgb.dtype == np.uint8
    assert np.array_equal(decoded.rgb, expected)
    assert (decoded.width, decoded.height) == expected.shape[1::-1]


def test_registry_photos_decode_as_pillow_does(faces: Path) -> None:
    for photo in sorted(faces.glob("*.jpg")):
        data = photo.read_bytes()
        assert np.array_equal(decode_image(data, **LIMITS).rgb, _pillow(data)), photo.name


@pytest.mark.parametrize("cut", [2000, 0.5, 0.9])
def test_truncated_jpegs_are_still_refused(faces: Path, cut: float) -> None:
    data = (faces / "obama.jpg").read_bytes()
    end = int(cut if cut > 1 else len(data) * cut)
    with pytest.raises(ImageDecodeError):
        decode_image(data[:end], **LIMITS)
