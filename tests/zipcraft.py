"""Zips with real faults, made byte by byte: a flipped data byte (bad CRC), a central directory
that lies about a member's sizes (too small, too large, truncated data), huge declared sizes
(a zip bomb's directory) and names that climb out of the archive."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image

_CENTRAL = b"PK\x01\x02"


def zip_bytes(members: dict[str, bytes], *, stored: tuple[str, ...] = ()) -> bytes:
    """A zip of ``members`` (deflated, except the ``stored`` ones), names kept exactly."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_STORED
                             if name in stored else zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _central_record(data: bytes, name: str) -> int:
    at = data.find(_CENTRAL)
    while at >= 0:
        length, extra, comment = (int.from_bytes(data[at + o:at + o + 2], "little")
                                  for o in (28, 30, 32))
        if data[at + 46:at + 46 + length].decode() == name:
            return at
        at = data.find(_CENTRAL, at + 46 + length + extra + comment)
    raise KeyError(name)


def lie(data: bytes, name: str, *, file_size: int | None = None,
        compress_size: int | None = None) -> bytes:
    """The zip with ``name``'s sizes in the central directory (what readers trust) replaced."""
    out = bytearray(data)
    at = _central_record(data, name)
    for offset, value in ((20, compress_size), (24, file_size)):
        if value is not None:
            out[at + offset:at + offset + 4] = value.to_bytes(4, "little")
    return bytes(out)


def sizes(data: bytes, name: str) -> tuple[int, int]:
    """``(compress_size, file_size)`` the directory declares for ``name``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    return info.compress_size, info.file_size


def flip_byte(data: bytes, name: str) -> bytes:
    """The zip with one byte in the middle of ``name``'s stored data flipped (bad CRC)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    assert info.compress_type == zipfile.ZIP_STORED
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    out = bytearray(data)
    out[start + info.compress_size // 2] ^= 0xFF
    return bytes(out)


def variants(faces: Path, count: int, folder: Path) -> list[Path]:
    """``count`` different real face photos (the cached ones re-encoded at other sizes, so each
    SHA-256 differs), written to ``folder`` as ``photo_N.jpg``."""
    folder.mkdir(parents=True, exist_ok=True)
    bases = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"]
    paths = []
    for i in range(count):
        with Image.open(faces / bases[i % len(bases)]) as image:
            width = 360 + 4 * i
            image.convert("RGB").resize((width, round(image.height * width / image.width))) \
                .save(folder / f"photo_{i}.jpg", quality=88)
        paths.append(folder / f"photo_{i}.jpg")
    return paths


def tiny_png(side: int = 8) -> bytes:
    """A real, decodable image far too small for any face (dlib's CNN once crashed on these)."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (120, 90, 60)).save(buffer, "PNG")
    return buffer.getvalue()
