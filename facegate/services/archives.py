"""Zips of photos, read safely.

* The caps come first: the entry count (from the end-of-central-directory record, before the
  directory is parsed) and the sum of the declared uncompressed sizes are held to
  :class:`ArchiveLimits`; over either, the whole zip is refused with ARCHIVE_TOO_LARGE.
* One ``ZipFile`` is opened per zip and every member is read from it (the directory is parsed
  once, not once per member).
* A member is never inflated past its declared size; one whose bytes do not match what the
  directory says (bad CRC, truncated, a size that lies), that is encrypted, or whose name climbs
  out of the archive (``../x.jpg``, ``/etc/x.jpg``) is refused on its own with
  INVALID_ARCHIVE_MEMBER, and the other members are still read.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from facegate.config import ImageSettings
from facegate.errors import (
    ArchiveError,
    ArchiveMemberError,
    ArchiveTooLargeError,
    ImageTooLargeError,
)

_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
#: A central-directory record is 46 bytes plus its name, extra field and comment; a directory
#: larger than this per allowed entry is refused before it is parsed.
_DIRECTORY_BYTES_PER_ENTRY = 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_entries: int
    max_uncompressed_bytes: int
    #: Each photo in a zip (or folder) is held to the image upload limit.
    max_member_bytes: int

    @classmethod
    def from_settings(cls, image: ImageSettings) -> ArchiveLimits:
        return cls(max_entries=image.max_archive_entries,
                   max_uncompressed_bytes=image.max_archive_uncompressed_bytes,
                   max_member_bytes=image.max_upload_bytes)


def open_archive(path: Path, limits: ArchiveLimits, *, label: str | None = None
                 ) -> zipfile.ZipFile:
    """The zip at ``path``, open and checked against ``limits`` (the caller closes it).

    ArchiveError when it is not a zip, ArchiveTooLargeError when it is over a cap (messages
    name it ``label``, default its file name); OSError when it cannot be read at all.
    """
    label = label or path.name
    with path.open("rb") as raw:
        entries, directory_bytes = _declared_directory(raw)
    _check_entries(entries, limits, label)
    if directory_bytes > limits.max_entries * _DIRECTORY_BYTES_PER_ENTRY:
        raise ArchiveTooLargeError(
            f"{label}: its central directory is {directory_bytes} bytes, too large for "
            f"{limits.max_entries} entries", details={"limit_entries": limits.max_entries})
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
        raise ArchiveError(f"{label} is not a zip file (or a broken one): {exc}") from exc
    try:
        members = archive.infolist()
        _check_entries(len(members), limits, label)
        declared = sum(m.file_size for m in members)
        if declared > limits.max_uncompressed_bytes:
            raise ArchiveTooLargeError(
                f"{label} declares {declared} uncompressed bytes, over the limit of "
                f"{limits.max_uncompressed_bytes}",
                details={"uncompressed_bytes": declared,
                         "limit_uncompressed_bytes": limits.max_uncompressed_bytes})
    except BaseException:
        archive.close()
        raise
    return archive


def check_archive(path: Path, limits: ArchiveLimits, *, label: str | None = None) -> None:
    """Refuse ``path`` (ArchiveError, ArchiveTooLargeError) unless it is a zip within limits."""
    open_archive(path, limits, label=label).close()


def _check_entries(entries: int, limits: ArchiveLimits, label: str) -> None:
    if entries > limits.max_entries:
        raise ArchiveTooLargeError(
            f"{label} has {entries} entries, over the limit of {limits.max_entries}",
            details={"entries": entries, "limit_entries": limits.max_entries})


def _declared_directory(raw: BinaryIO) -> tuple[int, int]:
    """``(entries, central directory bytes)`` from the end records; (0, 0) when there are none
    (``ZipFile`` then says it is not a zip)."""
    size = raw.seek(0, 2)
    raw.seek(max(0, size - 22 - 65535))
    tail = raw.read()
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return 0, 0
    entries = int.from_bytes(tail[at + 10:at + 12], "little")
    directory = int.from_bytes(tail[at + 12:at + 16], "little")
    if at >= 20 and tail[at - 20:at - 16] == _ZIP64_LOCATOR:
        raw.seek(int.from_bytes(tail[at - 12:at - 4], "little"))
        record = raw.read(56)
        if record[:4] == _ZIP64_EOCD and len(record) == 56:
            entries = max(entries, int.from_bytes(record[32:40], "little"))
            directory = max(directory, int.from_bytes(record[40:48], "little"))
    return entries, directory


def unsafe_name(name: str) -> str | None:
    """Why a member name may not be used (it points outside the archive), or None."""
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "is an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "climbs out of the archive ('..')"
    return None


def read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, *, limit: int) -> bytes:
    """The member's bytes, checked against its declared size and CRC.

    ImageTooLargeError when it declares more than ``limit`` bytes (never inflated);
    ArchiveMemberError when it is encrypted, compressed in a way zipfile cannot read, or its
    data does not match the directory.
    """
    name = member.filename
    if member.file_size > limit:
        raise ImageTooLargeError(f"{name} is {member.file_size} bytes, over the limit of "
                                 f"{limit}", details={"limit_bytes": limit})
    if member.flag_bits & 0x1:
        raise ArchiveMemberError(f"{name} is encrypted")
    try:
        with archive.open(member) as handle:
            # ZipExtFile stops at the declared size and checks the CRC once it gets there
            data = handle.read(member.file_size + 1)
    except zipfile.BadZipFile as exc:  # bad CRC, local header not matching the directory
        raise ArchiveMemberError(f"{name} is corrupt: {exc}") from exc
    except (EOFError, zlib.error) as exc:
        raise ArchiveMemberError(f"{name} is truncated or corrupt: {exc}") from exc
    except NotImplementedError as exc:
        raise ArchiveMemberError(f"{name} cannot be read: {exc}") from exc
    if len(data) != member.file_size:
        raise ArchiveMemberError(f"{name} holds {len(data)} bytes but declares "
                                 f"{member.file_size}")
    return data
