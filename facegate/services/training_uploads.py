"""Uploaded training zips (face photos) in the jobs' own folder, only while their job runs:
each ``flock``ed while open, so a server starting beside a running job never takes its zip for
one a killed server left behind (those are deleted at start)."""

from __future__ import annotations

import fcntl
import logging
import shutil
from pathlib import Path
from typing import BinaryIO

from facegate.services.archives import ArchiveLimits, check_archive
from facegate.storage.base import new_id

logger = logging.getLogger(__name__)


class Upload:
    """A received zip in the jobs' upload folder, locked (``flock``) for as long as this object
    is open, so that a server starting beside it never takes it for a leftover."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = folder / f"{new_id()}.zip"
        self._handle = self.path.open("xb")
        fcntl.flock(self._handle, fcntl.LOCK_EX)

    def write_from(self, source: BinaryIO) -> None:
        source.seek(0)
        shutil.copyfileobj(source, self._handle)
        self._handle.flush()

    def discard(self) -> None:
        """Delete the file (every path: success, failure, cancel, refusal)."""
        self.path.unlink(missing_ok=True)
        self._handle.close()


def received_archive(folder: Path, source: BinaryIO, limits: ArchiveLimits) -> Upload:
    """The uploaded zip copied into ``folder`` and checked (ArchiveError when it is not a zip,
    ArchiveTooLargeError over a cap; the copy is deleted then)."""
    upload = Upload(folder)
    try:
        upload.write_from(source)
        check_archive(upload.path, limits, label="the 'archive'")
    except BaseException:
        upload.discard()
        raise
    return upload


def remove_leftovers(folder: Path) -> int:
    """Delete uploads no live process holds (a server killed mid-job leaves its zip of face
    photos behind); returns how many were removed."""
    removed = 0
    for path in folder.glob("*.zip") if folder.is_dir() else ():
        with path.open("rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a running job's (this or another server process)
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        logger.info("removed %d training uploads left behind by a stopped server", removed)
    return removed
