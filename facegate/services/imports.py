"""Bulk import as a background job (``POST /v1/imports``): enrol a zip of labelled photos —
per-person folders (``alice/1.jpg``) or ``name_N.jpg`` files — through the same gallery
service as ``POST /v1/identities/{id}/faces`` (same codes), with progress and, at the end, a
report of every file. The zip lives in the uploads folder only while its job runs; the job row
(progress, the report) is in the store (``jobs.JobRunner``), so any replica answers a poll.

``create_missing`` false: a photo of a person not in the gallery is refused with
IDENTITY_NOT_FOUND. A cancelled job keeps what it enrolled and reports the files it got to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from facegate.services.archives import ArchiveLimits
from facegate.services.bulk import EnrolOutcome, Photo, collect, enroll_photos
from facegate.services.faces import MultipleFaces
from facegate.services.gallery import GalleryService
from facegate.services.jobs import Cancelled, JobRunner
from facegate.services.training_uploads import Upload, received_archive
from facegate.storage.state import SharedState, StoredJob

#: Progress is written after every photo; the report (which grows) at most this often.
REPORT_EVERY_S = 2.0


@dataclass(frozen=True)
class ImportOptions:
    create_missing: bool = True
    multiple_faces: MultipleFaces = "reject"


class Imports:
    def __init__(self, gallery: GalleryService, *, store: SharedState, limits: ArchiveLimits,
                 uploads: Path, lost_after_s: float = 60.0) -> None:
        self._gallery, self._limits, self._uploads = gallery, limits, uploads
        self.jobs = JobRunner(store, kind="import", lost_after_s=lost_after_s)

    def receive(self, source: BinaryIO) -> Upload:
        """The uploaded zip, copied to the uploads folder and checked (ArchiveError,
        ArchiveTooLargeError)."""
        return received_archive(self._uploads, source, self._limits)

    def start(self, options: ImportOptions, archive: Upload) -> StoredJob:
        return self.jobs.start(
            {"create_missing": options.create_missing, "multiple_faces": options.multiple_faces},
            lambda job_id: self._run(job_id, archive.path, options), cleanup=archive.discard)

    def _run(self, job_id: str, archive: Path, options: ImportOptions) -> dict[str, Any]:
        with collect([archive], limits=self._limits) as photos:
            report: list[dict[str, str]] = []
            self.jobs.progress(job_id, stage="enrolling", total=len(photos))
            written = 0.0
            for done, photo in enumerate(photos, 1):
                report.append(_entry(self._one(photo, options), f"{archive}:"))
                try:
                    if time.monotonic() - written >= REPORT_EVERY_S or done == len(photos):
                        written = time.monotonic()
                        self.jobs.progress(job_id, done=done, photos=_counts(report),
                                           refusals=tuple(report))
                    else:
                        self.jobs.progress(job_id, done=done, photos=_counts(report))
                except Cancelled:
                    raise Cancelled({"stage": "done", "photos": _counts(report),
                                     "refusals": tuple(report)}) from None
            return {"stage": "done", "photos": _counts(report), "refusals": tuple(report)}

    def _one(self, photo: Photo, options: ImportOptions) -> EnrolOutcome:
        if not options.create_missing and self._gallery.find_by_name(photo.person) is None:
            return EnrolOutcome(photo.source, photo.person, "refused", "IDENTITY_NOT_FOUND",
                                f"no identity named {photo.person!r} (create_missing is off)")
        return next(enroll_photos(self._gallery, [photo],
                                  multiple_faces=options.multiple_faces))


def _entry(outcome: EnrolOutcome, prefix: str) -> dict[str, str]:
    entry = {"file": outcome.source.removeprefix(prefix), "person": outcome.person,
             "outcome": "enrolled" if outcome.status == "enrolled"
             else outcome.code or "REFUSED", "message": outcome.message or ""}
    if outcome.identity_id is not None and outcome.face_id is not None:
        entry |= {"identity_id": outcome.identity_id, "face_id": outcome.face_id}
    return entry


def _counts(report: list[dict[str, str]]) -> dict[str, int]:
    enrolled = sum(1 for r in report if r["outcome"] == "enrolled")
    duplicate = sum(1 for r in report if r["outcome"] == "DUPLICATE_FACE")
    return {"total": len(report), "enrolled": enrolled, "duplicate": duplicate,
            "refused": len(report) - enrolled - duplicate}
