"""Bytes → RGB uint8 array, with limits checked before any pixel is decoded."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from facegate.domain import RGBImage
from facegate.errors import (
    ImageDecodeError,
    ImageTooLargeError,
    TooManyPixelsError,
    UnsupportedImageTypeError,
)

SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF"})
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
#: Pixels per strip when converting or reducing (about 4 MB of RGBA at a time).
_STRIP_PIXELS = 1 << 20
_ORIENTATION = 0x0112
#: EXIF orientation → the transpose that makes the photo upright (as ``ImageOps.exif_transpose``).
_TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}
_SWAPS_SIDES = frozenset({5, 6, 7, 8})
#: Leading bytes of the supported formats: such a file that Pillow cannot open is broken
#: (INVALID_IMAGE), not of an unsupported type.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """The upright pixels, possibly at reduced scale (see ``decode_image``'s ``max_side``)."""

    rgb: RGBImage
    format: str
    sha256: str
    #: Original pixels per decoded pixel along each side (1: full resolution).
    scale: int = 1
    #: The upright photo's size in original pixels (0: the decoded array's).
    original_size: tuple[int, int] = (0, 0)

    @property
    def width(self) -> int:
        return self.original_size[0] or int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return self.original_size[1] or int(self.rgb.shape[0])


def decode_image(
    data: bytes, *, max_bytes: int, max_pixels: int, max_side: int = 0
) -> DecodedImage:
    """Decode an uploaded image to an upright RGB array.

    With ``max_side`` > 0 a photo whose longer side is at least twice it is decoded at an
    integer reduced scale (``scale``) whose longer side is still at least ``max_side``: a JPEG by
    its decoder's DCT scaling (``draft``: 1/2, 1/4, 1/8), anything else (and what a JPEG still
    needs beyond 1/8) in strips, each made 8-bit RGB and box-averaged on its own, so no
    full-size RGB, alpha or wider-than-8-bit copy is ever made. Shorter photos are decoded
    exactly as without it.

    Raises ImageTooLargeError (bytes over ``max_bytes``), TooManyPixelsError (over ``max_pixels``,
    checked from the header so a decompression bomb is refused before it expands),
    UnsupportedImageTypeError (not JPEG/PNG/WebP/BMP/GIF) and ImageDecodeError (empty, truncated,
    corrupt).
    """
    if not data:
        raise ImageDecodeError("the image is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"the upload is {len(data)} bytes; the limit is {max_bytes} bytes",
            details={"size_bytes": len(data), "limit_bytes": max_bytes},
        )
    with warnings.catch_warnings():
        # Our own pixel limit is checked below; Pillow's bomb warning must not escape.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        # Pillow reports damage it tolerates (e.g. "Corrupt EXIF data") as UserWarning: the
        # pixels are fine, and a warnings-as-errors process must not turn that into a 500.
        warnings.simplefilter("ignore", UserWarning)
        image = _open(data, max_pixels=max_pixels)
        width, height = image.size
        rgb, scale, orientation = _to_rgb(image, max_side=max_side, data=data)
    upright = (height, width) if orientation in _SWAPS_SIDES else (width, height)
    return DecodedImage(rgb=rgb, format=str(image.format),
                        sha256=hashlib.sha256(data).hexdigest(), scale=scale,
                        original_size=upright)


def _open(data: bytes, *, max_pixels: int) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise TooManyPixelsError(
            "the image has too many pixels", details={"limit_pixels": max_pixels}
        ) from exc
    except UnidentifiedImageError as exc:
        if data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
            raise ImageDecodeError("the image is corrupt: it starts like a JPEG, PNG, WebP, "
                                   "BMP or GIF but cannot be read") from exc
        raise UnsupportedImageTypeError(
            "not a supported image: send JPEG, PNG, WebP, BMP or GIF"
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(f"the image could not be read: {exc}") from exc
    if image.format not in SUPPORTED_FORMATS:
        raise UnsupportedImageTypeError(
            f"{image.format} images are not supported: send JPEG, PNG, WebP, BMP or GIF"
        )
    width, height = image.size
    if width * height > max_pixels:
        raise TooManyPixelsError(
            f"the image is {width}x{height} = {width * height} pixels; "
            f"the limit is {max_pixels}",
            details={"width": width, "height": height, "limit_pixels": max_pixels},
        )
    if width < 1 or height < 1:
        raise ImageDecodeError("the image has no pixels")
    return image


def _to_rgb(image: Image.Image, *, max_side: int, data: bytes) -> tuple[RGBImage, int, int]:
    """The upright RGB array, its scale and the EXIF orientation that was applied."""
    try:
        image.seek(0)  # GIF/WebP animations: first frame
        drafted = _draft(image, max_side)
        factor = max(1, max(image.size) // max_side) if max_side > 0 else 1
        rgb = _plain_jpeg(image, data) if drafted == factor == 1 else None
        if rgb is None:
            image.load()
            rgb = _as_rgb_array(image, factor=factor)
        orientation = _orientation(image)
        method = _TRANSPOSES.get(orientation)
        if method is not None:
            rgb = np.asarray(Image.fromarray(rgb).transpose(method), dtype=np.uint8)
        return np.ascontiguousarray(rgb), drafted * factor, orientation
    except Image.DecompressionBombError as exc:
        raise TooManyPixelsError("the image has too many pixels") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageDecodeError(f"the image could not be decoded: {exc}") from exc


def _plain_jpeg(image: Image.Image, data: bytes) -> RGBImage | None:
    """A whole, 8-bit RGB or greyscale JPEG decoded by OpenCV (the same libjpeg-turbo pixels as
    Pillow's, about 1.6x faster); None for anything else, which Pillow decodes. "Whole": it
    ends with the end-of-image marker, so a truncated upload still fails in Pillow."""
    if image.format != "JPEG" or image.mode not in ("RGB", "L") \
            or not data.rstrip(b"\0\r\n ").endswith(b"\xff\xd9"):
        return None
    import cv2

    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8),
                           cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    if decoded is None or decoded.shape[1::-1] != image.size:
        return None
    return np.asarray(decoded, dtype=np.uint8)


def _orientation(image: Image.Image) -> int:
    value = image.getexif().get(_ORIENTATION, 1)
    return value if isinstance(value, int) else 1


def _draft(image: Image.Image, max_side: int) -> int:
    """Ask a JPEG's decoder for the smallest DCT scale (1/2, 1/4, 1/8) keeping the longer side
    at least ``max_side``; the scale it chose (1: none)."""
    width, height = image.size
    longest = max(width, height)
    if max_side <= 0 or longest <= max_side or image.format not in ("JPEG", "MPO"):
        return 1
    wanted = (max(1, width * max_side // longest), max(1, height * max_side // longest))
    if image.draft(None, wanted) is None:
        return 1
    return max(1, round(width / image.size[0]))


def _as_rgb_array(image: Image.Image, *, factor: int = 1) -> RGBImage:
    """8-bit RGB, box-reduced by ``factor``, made strip by strip (alpha over white)."""
    if factor == 1 and image.mode == "RGB":
        return np.asarray(image, dtype=np.uint8)
    width, height = image.size
    out = np.empty((-(-height // factor), -(-width // factor), 3), dtype=np.uint8)
    peak = _sixteen_bit_peak(image) if image.mode in _SIXTEEN_BIT_MODES else 0.0
    rows = factor * max(1, _STRIP_PIXELS // (width * factor))
    for top in range(0, height, rows):
        strip = _eight_bit(image.crop((0, top, width, min(top + rows, height))), peak)
        if factor > 1:
            strip = strip.reduce(factor)
        pixels = np.asarray(strip, dtype=np.uint8)
        first = top // factor
        out[first:first + pixels.shape[0]] = pixels[:, :, None] if pixels.ndim == 2 else pixels
    return out


def _sixteen_bit_peak(image: Image.Image) -> float:
    """The full-scale value of a 16-bit or wider greyscale image: 65535, or 255 when no pixel
    is over 255 (8-bit values stored wide)."""
    extrema = image.getextrema()
    high = float(extrema[1]) if isinstance(extrema[1], (int, float)) else 0.0
    return 65535.0 if high > 255.0 else 255.0


def _eight_bit(strip: Image.Image, peak: float) -> Image.Image:
    """A strip as an ``L`` or ``RGB`` image (no float64, no full-size copy)."""
    if strip.mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(strip)
        if wide.dtype.kind == "u" and peak == 65535.0:
            grey = (wide // 257).astype(np.uint8)  # floor(v * 255 / 65535), exactly
        else:
            grey = np.clip(wide.astype(np.float32) * np.float32(255.0 / peak), 0, 255)
            grey = grey.astype(np.uint8)
        return Image.fromarray(grey, mode="L")
    if strip.mode in ("RGBA", "LA", "PA") or (
        strip.mode == "P" and "transparency" in strip.info
    ):
        rgba = strip.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return strip if strip.mode == "L" else strip.convert("RGB")
