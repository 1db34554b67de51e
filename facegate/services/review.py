"""The unknown-face review queue (opt-in, ``settings.review``; docs/governance.md).

``offer`` is identify's one hook: every face it could not name is kept (chip, descriptor, time,
camera) and placed in a cluster of one person by the store (``ReviewQueue.add_review_face``):
it joins the nearest open or ignored cluster whose mean descriptor and every kept face are
within ``cluster_within`` x the server's match threshold, else starts one (the mean alone lets a
mixed cluster drift to the average face and swallow strangers: bench/review_clusters.py). A
face that joins an ignored cluster ("nobody in the gallery") is counted and not kept.

Actions (``name``, ``assign``, ``ignore``, ``discard``) name the cluster version they were
decided on and are applied whole in one store transaction, or refused (``ClusterChangedError``)
when the cluster changed meanwhile. Naming or assigning enrols the best faces by quality
(at most ``enrol_best``, one per photo) through the gallery's index, as face samples with
the chip and the descriptor identify computed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from facegate.config_review import ReviewSettings
from facegate.domain import FaceIdentification, FaceQuality, FaceSample, Identity
from facegate.errors import FacegateError, ValidationError
from facegate.services.faces import chip_jpeg
from facegate.services.gallery import GalleryService
from facegate.storage.base import GalleryStore, check_name, new_id, new_identity, utcnow
from facegate.storage.review import (
    CLUSTER_STATUSES,
    Placement,
    QueueLimits,
    ReviewAction,
    ReviewCluster,
    ReviewFace,
    Settlement,
    chosen,
)

logger = logging.getLogger(__name__)
#: Lazy expiry runs at most this often (seconds) on reads and offers.
EXPIRE_EVERY_S = 60.0


def quality(face: FaceQuality) -> float:
    """One number in [0, 1) to rank a cluster's faces: the face's size (full at 100 px) times
    its sharpness (the chip's Laplacian variance ``v`` as ``v / (v + 200)``)."""
    size = min(1.0, face.size_px / 100.0)
    sharp = max(face.sharpness, 0.0)
    return round(size * sharp / (sharp + 200.0), 6)


@dataclass(frozen=True, slots=True)
class Settled:
    """What an action did: the cluster afterwards (None: discarded) and the samples enrolled."""

    cluster: ReviewCluster | None
    identity_id: str | None
    enrolled: tuple[FaceSample, ...]
    faces: int


class ReviewService:
    def __init__(self, store: GalleryStore, gallery: GalleryService, options: ReviewSettings,
                 *, threshold: Callable[[], float], model_name: str) -> None:
        self._store = store
        self._gallery = gallery
        self.options = options
        self._threshold = threshold
        self._model = model_name
        self._expired_at = 0.0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.options.enabled

    @property
    def within(self) -> float:
        """The clustering distance: ``cluster_within`` x the match threshold now in force."""
        return self.options.cluster_within * self._threshold()

    def limits(self) -> QueueLimits:
        return QueueLimits(within=self.within, max_faces=self.options.max_faces,
                           max_per_cluster=self.options.max_faces_per_cluster,
                           member_within=self.within)

    # identify's hook
    def offer(self, photo_sha256: str, faces: Sequence[FaceIdentification], *,
              camera: str | None) -> list[Placement]:
        """Keep the unknown faces among ``faces`` (nothing when the queue is off). A store
        failure is logged and swallowed: identify answers anyway."""
        unknown = [f for f in faces if not f.decision.known]
        if not self.enabled or not unknown:
            return []
        placed = []
        try:
            self.expire_lazily()
            for item in unknown:
                face = ReviewFace(id=new_id(), descriptor=item.face.descriptor,
                                  chip_jpeg=chip_jpeg(item.face.chip), image_sha256=photo_sha256,
                                  quality=quality(item.face.quality), seen_at=time.time(),
                                  camera=camera)
                placed.append(self._store.add_review_face(
                    face, limits=self.limits(), new_cluster_id=new_id()))
        except FacegateError as exc:
            logger.warning("review queue: unknown face not kept (%s)", exc.code)
        return placed

    # reading
    def clusters(self, *, status: str | None, limit: int,
                 offset: int) -> tuple[list[ReviewCluster], int]:
        if status is not None and status not in CLUSTER_STATUSES:
            raise ValidationError(f"status must be one of {', '.join(CLUSTER_STATUSES)}")
        self.expire_lazily()
        return self._store.review_clusters(status=status, limit=limit, offset=offset)

    def cluster(self, cluster_id: str) -> tuple[ReviewCluster, list[ReviewFace]]:
        self.expire_lazily()
        return self._store.review_cluster(cluster_id), self._store.review_faces(cluster_id)

    def face(self, face_id: str) -> ReviewFace:
        self.expire_lazily()
        return self._store.review_face(face_id)

    # retention
    def expire_lazily(self) -> int:
        """Expire at most once a minute (or a tenth of the retention, when that is shorter)."""
        now = time.time()
        every = min(EXPIRE_EVERY_S, self.options.retention_days * 8640.0)
        with self._lock:
            if now - self._expired_at < every:
                return 0
            self._expired_at = now
        return self.expire(now)

    def expire(self, now: float | None = None) -> int:
        """Delete the faces older than ``retention_days`` (the retention job calls the store's
        ``expire_review_items`` the same way)."""
        now = time.time() if now is None else now
        gone = self._store.expire_review_items(now - self.options.retention_days * 86400.0)
        if gone:
            logger.info("review queue: %d expired faces deleted", gone)
        return gone

    # actions
    def name(self, cluster_id: str, *, version: int, name: str,
             face_ids: Sequence[str] | None = None) -> Settled:
        """A new identity called ``name`` with the cluster's (or those faces') best faces."""
        identity = new_identity(name=check_name(name), external_id=None, metadata=None)
        return self._settle(cluster_id, version, "name", face_ids, identity_id=identity.id,
                            new=identity)

    def assign(self, cluster_id: str, *, version: int, identity_id: str,
               face_ids: Sequence[str] | None = None) -> Settled:
        """Enrol the best faces to an existing identity."""
        self._store.get_identity(identity_id)
        return self._settle(cluster_id, version, "assign", face_ids, identity_id=identity_id)

    def ignore(self, cluster_id: str, *, version: int,
               face_ids: Sequence[str] | None = None) -> Settled:
        return self._settle(cluster_id, version, "ignore", face_ids)

    def discard(self, cluster_id: str, *, version: int,
                face_ids: Sequence[str] | None = None) -> Settled:
        return self._settle(cluster_id, version, "discard", face_ids)

    def _settle(self, cluster_id: str, version: int, action: ReviewAction,
                face_ids: Sequence[str] | None, *, identity_id: str | None = None,
                new: Identity | None = None) -> Settled:
        if face_ids is not None and not face_ids:
            raise ValidationError("face_ids, when given, must name at least one face")
        picked = chosen(self._store.review_faces(cluster_id), face_ids)
        best = self._best(picked, identity_id, fresh=new is not None) \
            if identity_id is not None else []
        samples = tuple(sample for _, sample in best)
        settlement = Settlement(
            cluster_id=cluster_id, version=version, action=action,
            face_ids=None if face_ids is None else tuple(face_ids), identity=new,
            identity_id=identity_id, samples=samples,
            enrolled={face_id: sample.id for face_id, sample in best}, split_id=new_id())
        after = self._gallery.indexed.write_with(
            list(samples), lambda: self._store.settle_review(settlement))
        logger.info("review cluster %s: %s (%d faces, %d enrolled)", cluster_id, action,
                    len(picked), len(samples))
        return Settled(after, identity_id, samples, len(picked))

    def _best(self, faces: Sequence[ReviewFace], identity_id: str, *,
              fresh: bool) -> list[tuple[str, FaceSample]]:
        """The best faces by quality, one per photo, none from a photo the person has a face
        of already, at most ``enrol_best``: ``(review face id, the sample made of it)``."""
        taken = set() if fresh else {f.image_sha256 for f in self._store.list_faces(identity_id)}
        best: list[tuple[str, FaceSample]] = []
        for face in sorted(faces, key=lambda f: (-f.quality, -f.seen_at)):
            if face.image_sha256 in taken or len(best) >= self.options.enrol_best:
                continue
            taken.add(face.image_sha256)
            best.append((face.id, FaceSample(
                id=new_id(), identity_id=identity_id, descriptor=face.descriptor,
                chip_jpeg=face.chip_jpeg, image_sha256=face.image_sha256, detection_score=None,
                created_at=utcnow(), model=self._model, box=None)))
        return best
