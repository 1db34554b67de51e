"""Threshold calibration as a background job (``POST /v1/calibrate``): the same computation as
``facegate calibrate`` (``evaluation.calibration``: every same-person and cross-person pair of a
zip of per-person folders, the largest threshold within the target FMR, FNMR and intervals),
run on this server's own face reader (no second copy of the models), with progress per photo.

The zip lives in the uploads folder only while its job runs; its photos are unpacked into the
job's folder (``<data_dir>/calibrations/<id>/photos``) for the computation and deleted at its
end, every path. What stays is the job row in the store (progress, the result) and the plots
(``roc.png``, ``det.png``, ``histogram.png``) in the job's folder, kept for the jobs the store
keeps. ``apply`` writes ``<data_dir>/calibration.json`` (as ``calibrate --apply``) and makes
this server use the threshold at once; other replicas read it at their next start.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import numpy as np

from facegate.config import Settings
from facegate.domain import Timings
from facegate.errors import ConflictError, FacegateError, ValidationError
from facegate.evaluation import calibration, metrics, plots
from facegate.evaluation.descriptors import Descriptors, Purpose
from facegate.evaluation.runs import Run
from facegate.services.archives import ArchiveLimits
from facegate.services.bulk import collect
from facegate.services.faces import FaceReader, ReadMode
from facegate.services.gallery import GalleryService
from facegate.services.jobs import JobRunner
from facegate.services.recognition import RecognitionService
from facegate.services.training_uploads import Upload, received_archive
from facegate.storage.state import SharedState, StoredJob

FOLDER = "calibrations"
PLOTS = ("roc", "det", "histogram")


@dataclass(frozen=True, slots=True)
class ServerRun(Run):
    """A ``Run`` whose descriptors come from the server's own reader, one photo at a time,
    with ``step()`` after each (progress; it raises ``Cancelled`` to stop)."""

    reader: FaceReader | None = None
    step: Any = None

    def describe(self, paths: list[Path], purpose: Purpose = "probe") -> Descriptors:
        assert self.reader is not None
        mode: ReadMode = "enrol" if purpose == "enrol" else "clear"
        found: Descriptors = {}
        for path in sorted(set(paths)):
            try:
                faces = self.reader.read(path.read_bytes(), mode, Timings()).faces
            except FacegateError:
                faces = []
            found[path] = faces[0].descriptor if faces else None
            if self.step is not None:
                self.step()
        return found


class Calibrations:
    def __init__(self, settings: Settings, *, recognition: RecognitionService,
                 gallery: GalleryService, store: SharedState, limits: ArchiveLimits,
                 uploads: Path, lost_after_s: float = 60.0) -> None:
        self._settings, self._recognition, self._gallery = settings, recognition, gallery
        self._limits, self._uploads = limits, uploads
        self.folder = settings.data_dir / FOLDER
        self.jobs = JobRunner(store, kind="calibrate", lost_after_s=lost_after_s)

    def receive(self, source: BinaryIO) -> Upload:
        """The uploaded zip in the uploads folder, checked (ArchiveError, ArchiveTooLargeError)."""
        return received_archive(self._uploads, source, self._limits)

    def start(self, target_fmr: float, archive: Upload) -> StoredJob:
        self._forget_old()
        return self.jobs.start({"target_fmr": target_fmr},
                               lambda job_id: self._run(job_id, archive.path, target_fmr),
                               cleanup=archive.discard)

    def plot(self, job_id: str, name: str) -> Path:
        """A finished job's plot (ConflictError before it has finished)."""
        job = self.jobs.get(job_id)
        path = self.folder / job.id / f"{name}.png"
        if job.status != "finished" or not path.is_file():
            raise ConflictError(f"calibration {job_id!r} has no plots ({job.status})",
                                details={"status": job.status})
        return path

    def apply(self, job_id: str) -> dict[str, Any]:
        """Store the job's threshold as the server's and use it here from now on."""
        job = self.jobs.get(job_id)
        if job.status != "finished" or job.model is None:
            raise ConflictError(f"calibration {job_id!r} has no result to apply "
                                f"({job.status})", details={"status": job.status})
        fields = {k: job.model[k] for k in calibration.Calibration.__dataclass_fields__}
        fields["fmr_interval"] = tuple(fields["fmr_interval"])
        fields["fnmr_interval"] = tuple(fields["fnmr_interval"])
        previous = (self._settings.matching.threshold, self._settings.threshold_source)
        calibration.apply(calibration.Calibration(**fields), self._settings.data_dir)
        self.use(float(fields["threshold"]))
        return {"threshold": self._settings.matching.threshold,
                "threshold_source": self._settings.threshold_source,
                "previous_threshold": previous[0], "previous_source": previous[1]}

    def use(self, threshold: float) -> None:
        """This server's identify, verify and enrolment warnings hold to ``threshold`` now."""
        self._settings.use_calibrated_threshold(threshold)
        self._recognition.threshold = threshold
        self._gallery.warn_within = threshold

    def _run(self, job_id: str, archive: Path, target_fmr: float) -> dict[str, Any]:
        folder = self.folder / job_id
        photos_dir = folder / "photos"
        try:
            total = self._unpack(archive, photos_dir)
            self.jobs.progress(job_id, stage="describing", total=2 * total)
            done = [0]

            def step() -> None:
                done[0] += 1
                self.jobs.progress(job_id, done=done[0])

            run = ServerRun(settings=self._settings, reader=self._recognition.reader, step=step)
            distances, same = calibration.labelled_distances(photos_dir, run=run)
        finally:
            shutil.rmtree(photos_dir, ignore_errors=True)
        result = calibration.calibrate(distances, same, target_fmr=target_fmr,
                                       source=f"POST /v1/calibrate job {job_id}")
        plots.pairs_plots(metrics.roc(distances, same), distances, same,
                          threshold=result.threshold, out_dir=folder, title="calibration")
        return {"stage": "done", "model": {**result.as_dict(), **self._current(distances, same)}}

    def _current(self, distances: metrics.Floats, same: metrics.Bools) -> dict[str, Any]:
        """What the threshold in use now gives on the same pairs."""
        threshold = self._settings.matching.threshold
        finite = np.isfinite(distances)
        genuine, impostor = distances[finite & same], distances[finite & ~same]
        return {"current_threshold": threshold,
                "current_source": self._settings.threshold_source,
                "current_fmr": float(np.mean(impostor <= threshold)) if impostor.size else 0.0,
                "current_fnmr": float(np.mean(genuine > threshold)) if genuine.size else 0.0}

    def _unpack(self, archive: Path, into: Path) -> int:
        """The zip's photos as one folder per person (numbered: names never reach a path)."""
        with collect([archive], limits=self._limits) as photos:
            people = {name: i for i, name in enumerate(sorted({p.person for p in photos}))}
            if len(people) < 2:
                raise ValidationError("calibration needs photos of at least two people, one "
                                      "folder each", details={"people": len(people)})
            written = 0
            for n, photo in enumerate(photos):
                person = into / f"{people[photo.person]:05d}"
                person.mkdir(parents=True, exist_ok=True)
                suffix = PurePosixPath(photo.source).suffix.lower()
                try:
                    data = photo.read()
                except FacegateError:
                    continue  # an unusable member: left out, as a faceless photo would be
                (person / f"{n:06d}{suffix}").write_bytes(data)
                written += 1
            return written

    def _forget_old(self) -> None:
        """Plots of jobs the store no longer keeps."""
        if not self.folder.is_dir():
            return
        kept = {job.id for job in self.jobs.list()}
        for old in self.folder.iterdir():
            if old.is_dir() and old.name not in kept:
                shutil.rmtree(old, ignore_errors=True)
