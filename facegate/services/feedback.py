"""Operator feedback on identify/verify answers: kept probes, verdicts and their effects.

Each identify/verify answer's faces are kept as probe descriptors (``KeptProbe``: the
descriptor, the identity named, the decision score and the face size; never the image) for
``feedback.keep_minutes``. A verdict on one face (``give``):

- ``correct``: the naming was right; recorded (and audited), nothing changes;
- ``wrong``: the face was named as the wrong person (or should have been unknown): its
  descriptor becomes a negative anchor of the identity it was given to, and identify refuses
  that identity for probes nearer the anchor than the identity's own samples
  (``matching.NegativeRule``);
- ``is`` + identity: the face is that person: it is enrolled to them through the gallery's
  descriptor enrolment (``GalleryService.enroll_descriptor``), once the quality gate passes
  (the face at least ``feedback.enrol_min_face_px`` on its smaller side).

The same verdict again is a repeat (the same effect, nothing added); a different one on the
same face is refused (409) until the first is undone (``undo``). Every effect is visible
(``GET /v1/identities/{id}/negatives``, the identity's faces) and undoable.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from facegate.config_feedback import FeedbackSettings
from facegate.domain import Descriptor, IdentifyResult, VerifyResult
from facegate.errors import ConflictError, DuplicateFaceError, RequestNotFoundError, ValidationError
from facegate.services.gallery import GalleryService
from facegate.storage.base import GalleryStore, new_id
from facegate.storage.feedback import KeptProbe, NegativeAnchor

logger = logging.getLogger(__name__)
Verdict = Literal["correct", "wrong", "is"]
Effect = Literal["none", "negative_anchor", "enrolled"]


@dataclass(frozen=True, slots=True)
class Outcome:
    request_id: str
    face_index: int
    verdict: Verdict
    identity_id: str
    effect: Effect
    anchor_id: str | None = None
    face_id: str | None = None
    repeated: bool = False


class ProbeWriter:
    """Kept probes written in the background, a batch per transaction (every ``every_s`` or
    ``batch`` probes), so identify never waits for a store write (a SQLite commit syncs the
    disk: ~10 ms, one at a time). ``flush`` writes what waits now (feedback calls it first, so
    a probe is always found on the replica that answered it). At most ``limit`` probes wait;
    past it new ones are dropped and counted (their feedback is 404)."""

    def __init__(self, store: GalleryStore, *, max_rows: int, clock: Callable[[], float],
                 every_s: float = 0.2, batch: int = 256, limit: int = 10_000) -> None:
        self._store, self._max_rows, self._clock = store, max_rows, clock
        self._every_s, self._batch, self._limit = every_s, batch, limit
        self._waiting: list[KeptProbe] = []
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.dropped = 0

    def put(self, probes: list[KeptProbe]) -> None:
        with self._cond:
            room = self._limit - len(self._waiting)
            if room < len(probes):
                self.dropped += len(probes) - max(room, 0)
                logger.warning("kept probes dropped: %d waiting", len(self._waiting))
            self._waiting.extend(probes[:max(room, 0)])
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="kept-probes",
                                                daemon=True)
                self._thread.start()
            if len(self._waiting) >= self._batch:
                self._cond.notify()

    def flush(self) -> None:
        with self._write_lock:
            with self._cond:
                probes, self._waiting = self._waiting, []
            if probes:
                self._store.keep_probes(probes, now=self._clock(), max_rows=self._max_rows)

    def close(self) -> None:
        """Write what waits and end the thread (later probes are written by ``flush`` only)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self._closed:
            with self._cond:
                if not self._closed:
                    self._cond.wait(self._every_s)
            try:
                self.flush()
            except Exception:  # the store failed: those probes are gone, the next may work
                logger.exception("kept probes not written")


class FeedbackService:
    def __init__(self, store: GalleryStore, gallery: GalleryService, settings: FeedbackSettings,
                 *, clock: Callable[[], float] = time.time) -> None:
        self._store, self._gallery, self.settings, self._clock = store, gallery, settings, clock
        self.writer = ProbeWriter(store, max_rows=settings.max_kept, clock=clock)

    @property
    def enabled(self) -> bool:
        return self.settings.keep_probes != "off"

    def keep_identify(self, request_id: str, result: IdentifyResult) -> None:
        probes = [self._probe(request_id, i, f.face.descriptor, size=f.face.quality.size_px,
                              identity_id=f.decision.identity.identity_id
                              if f.decision.identity else None,
                              score=f.decision.adjusted_distance if f.decision.adjusted_distance
                              is not None or f.decision.identity is None
                              else f.decision.identity.distance)
                  for i, f in enumerate(result.faces)]
        self._keep(probes)

    def keep_verify(self, request_id: str, result: VerifyResult) -> None:
        """The probe face of a verify (the first photo's); named when it matched an identity."""
        face = result.faces[0]
        named = result.identity.id if result.identity is not None and result.match else None
        self._keep([self._probe(request_id, 0, face.descriptor, size=face.quality.size_px,
                                identity_id=named, score=result.distance)])

    def _probe(self, request_id: str, index: int, descriptor: Descriptor, *, size: int,
               identity_id: str | None, score: float | None) -> KeptProbe:
        now = self._clock()
        return KeptProbe(request_id=request_id, face_index=index,
                         descriptor=descriptor,
                         identity_id=identity_id, score=score, size_px=int(size),
                         created_at=now, expires_at=now + self.settings.keep_minutes * 60.0)

    def _keep(self, probes: list[KeptProbe]) -> None:
        if self.enabled and probes:
            self.writer.put(probes)

    def probe(self, request_id: str, face_index: int) -> KeptProbe:
        """The kept probe, or 404 REQUEST_NOT_FOUND / 422 for a face index out of range."""
        self.writer.flush()
        kept = self._store.kept_probes(request_id, now=self._clock())
        if not kept:
            raise RequestNotFoundError(
                f"no kept probes for request {request_id!r}: unknown, or older than "
                f"{self.settings.keep_minutes:g} minutes")
        if not 0 <= face_index < len(kept):
            raise ValidationError(f"face_index must be between 0 and {len(kept) - 1}",
                                  details={"faces": len(kept)})
        return kept[face_index]

    def give(self, request_id: str, face_index: int, verdict: Verdict,
             identity_id: str | None = None) -> Outcome:
        probe = self.probe(request_id, face_index)
        target = self._target(probe, verdict, identity_id)
        if probe.verdict is not None and (probe.verdict, probe.verdict_identity) != \
                (verdict, target):
            raise ConflictError(
                f"this face already has the verdict {probe.verdict!r}: undo it first "
                f"(DELETE /v1/feedback/{request_id}/{face_index})",
                details={"verdict": probe.verdict, "identity_id": probe.verdict_identity})
        repeated = probe.verdict is not None
        outcome = Outcome(request_id, face_index, verdict, target, "none", repeated=repeated)
        if verdict == "wrong":
            anchor = self._store.add_negative_anchor(NegativeAnchor(
                id=new_id(), identity_id=target, descriptor=probe.descriptor,
                request_id=request_id, face_index=face_index, score=probe.score,
                created_at=self._clock()))
            outcome = Outcome(request_id, face_index, verdict, target, "negative_anchor",
                              anchor_id=anchor.id, repeated=repeated)
        elif verdict == "is":
            outcome = Outcome(request_id, face_index, verdict, target, "enrolled",
                              face_id=self._enrol(probe, target), repeated=repeated)
        self._store.set_verdict(request_id, face_index, verdict, target)
        return outcome

    def _target(self, probe: KeptProbe, verdict: Verdict, identity_id: str | None) -> str:
        """The identity the verdict is about (422 when it cannot be)."""
        if verdict == "is":
            if identity_id is None:
                raise ValidationError("verdict 'is' needs the 'identity_id' it was")
            if identity_id not in self._store.get_identities([identity_id]):
                raise ValidationError(f"identity {identity_id!r} does not exist",
                                      details={"identity_id": identity_id})
            return identity_id
        if probe.identity_id is None:
            raise ValidationError(f"this face was not named as anyone: nothing is {verdict} "
                                  "(use verdict 'is' with the identity it was)")
        if identity_id is not None and identity_id != probe.identity_id:
            raise ValidationError(f"this face was named as {probe.identity_id!r}, not "
                                  f"{identity_id!r}", details={"named": probe.identity_id})
        return probe.identity_id

    def _enrol(self, probe: KeptProbe, identity_id: str) -> str:
        """Enrol the kept descriptor (quality gate first); a repeat finds the face again."""
        if probe.size_px < self.settings.enrol_min_face_px:
            raise ValidationError(
                f"this face is {probe.size_px} px: too small to enrol (at least "
                f"{self.settings.enrol_min_face_px} px, feedback.enrol_min_face_px)",
                details={"size_px": probe.size_px})
        try:
            return self._gallery.enroll_descriptor(
                identity_id, [float(v) for v in probe.descriptor]).sample.id
        except DuplicateFaceError:
            face = self._enrolled_face(probe, identity_id)
            if face is None:
                raise
            return face

    def _enrolled_face(self, probe: KeptProbe, identity_id: str) -> str | None:
        digest = hashlib.sha256(probe.descriptor.astype("float32").tobytes()).hexdigest()
        return next((f.id for f in self._gallery.list_faces(identity_id)
                     if f.image_sha256 == digest), None)

    def undo(self, request_id: str, face_index: int) -> Outcome | None:
        """Take back the face's verdict and its effect; None when it had none."""
        probe = self.probe(request_id, face_index)
        if probe.verdict is None or probe.verdict_identity is None:
            return None
        target = probe.verdict_identity
        outcome = Outcome(request_id, face_index, probe.verdict,  # type: ignore[arg-type]
                          target, "none")
        if probe.verdict == "wrong":
            for anchor in self._store.negative_anchors(target):
                if (anchor.request_id, anchor.face_index) == (request_id, face_index):
                    self._store.delete_negative_anchor(target, anchor.id)
                    outcome = Outcome(request_id, face_index, "wrong", target,
                                      "negative_anchor", anchor_id=anchor.id)
        elif probe.verdict == "is" and (face := self._enrolled_face(probe, target)):
            self._gallery.delete_face(target, face)
            outcome = Outcome(request_id, face_index, "is", target, "enrolled", face_id=face)
        self._store.set_verdict(request_id, face_index, None, None)
        return outcome

    def anchors(self, identity_id: str) -> list[NegativeAnchor]:
        self._store.get_identity(identity_id)  # 404 IDENTITY_NOT_FOUND
        return self._store.negative_anchors(identity_id)

    def delete_anchor(self, identity_id: str, anchor_id: str) -> None:
        self._store.get_identity(identity_id)
        self._store.delete_negative_anchor(identity_id, anchor_id)
