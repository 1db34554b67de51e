"""Bytes → RGB uint8 array, with limits checked before any pixel is decoded."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facegate.domain import RGBImage
from facegate.errors import (
    ImageDecodeError,
    ImageTooLargeError,
    TooManyPixelsError,
    UnsupportedImageTypeError,
)

SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF"})
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
#: Leading bytes of the supported formats: such a file that Pillow cannot open is broken
#: (INVALID_IMAGE), not of an unsupported type.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


@dataclass(frozen=True, slots=True)
class DecodedImage:
    rgb: RGBImage
    format: str
    sha256: str

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    """Decode an uploaded image to an upright RGB array.

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
        rgb = _to_rgb(image)
    return DecodedImage(
        rgb=rgb, format=str(image.format), sha256=hashlib.sha256(data).hexdigest()
    )


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


def _to_rgb(image: Image.Image) -> RGBImage:
    try:
        image.seek(0)  # GIF/WebP animations: first frame
        image.load()
        upright = ImageOps.exif_transpose(image) or image
        return _as_rgb_array(upright)
    except Image.DecompressionBombError as exc:
        raise TooManyPixelsError("the image has too many pixels") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageDecodeError(f"the image could not be decoded: {exc}") from exc


def _as_rgb_array(image: Image.Image) -> RGBImage:
    if image.mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if wide.max(initial=0.0) > 255.0 else 255.0
        grey = np.clip(wide * (255.0 / peak), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb)
