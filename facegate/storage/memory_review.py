"""``ReviewQueue`` in process memory, for ``MemoryStore`` (the same rules as ``sql_review``)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from facegate.domain import FaceSample, Identity
from facegate.storage.review import (
    Placement,
    QueueLimits,
    ReviewCluster,
    ReviewFace,
    Settlement,
    check_settleable,
    chosen,
    epoch,
    fits,
    nearest,
    no_cluster,
    no_face,
    settled_status,
    summary,
)


class MemoryReview:
    """The host provides ``_review_enrol(identity, identity_id, samples)``: checks everything
    first, then inserts (so a refusal changes nothing)."""

    def __init__(self) -> None:
        self._review_lock = threading.RLock()
        self._clusters: dict[str, ReviewCluster] = {}
        self._review: dict[str, ReviewFace] = {}

    def _review_enrol(self, identity: Identity | None, identity_id: str | None,
                      samples: tuple[FaceSample, ...]) -> None:
        raise NotImplementedError

    def _members(self, cluster_id: str) -> list[ReviewFace]:
        return sorted((f for f in self._review.values() if f.cluster_id == cluster_id),
                      key=lambda f: (-f.quality, -f.seen_at, f.id))

    def _restate(self, cluster_id: str, *, bump: bool = True) -> None:
        after = summary(self._clusters[cluster_id], self._members(cluster_id), bump=bump)
        if after.size == 0:
            del self._clusters[cluster_id]
        else:
            self._clusters[cluster_id] = after

    def add_review_face(self, face: ReviewFace, *, limits: QueueLimits,
                        new_cluster_id: str) -> Placement:
        with self._review_lock:
            live = [(c.id, c.centroid) for c in self._clusters.values()
                    if c.status in ("open", "ignored")]
            target = next((c for c in nearest(live, face.descriptor, limits.within)
                           if fits(self._members(c), face.descriptor, limits)), None)
            outcome = "queued"
            if target is None:
                target = new_cluster_id
                self._clusters[target] = ReviewCluster(
                    id=target, status="open", version=1, size=0, seen=1,
                    first_seen=face.seen_at, last_seen=face.seen_at, best_face_id=None,
                    centroid=face.descriptor)
                self._review[face.id] = replace(face, cluster_id=target)
                self._restate(target, bump=False)
            else:
                outcome = self._join(self._clusters[target], face, limits)
            return Placement(outcome, target, self._evict(limits.max_faces))  # type: ignore[arg-type]

    def _join(self, cluster: ReviewCluster, face: ReviewFace, limits: QueueLimits) -> str:
        self._clusters[cluster.id] = cluster = replace(
            cluster, seen=cluster.seen + 1, last_seen=max(cluster.last_seen, face.seen_at))
        if cluster.status == "ignored":
            return "ignored"
        members = self._members(cluster.id)
        if len(members) >= limits.max_per_cluster:
            worst = min(members, key=lambda f: (f.quality, f.seen_at))
            if worst.quality >= face.quality:
                return "counted"
            del self._review[worst.id]
        self._review[face.id] = replace(face, cluster_id=cluster.id)
        self._restate(cluster.id)
        return "queued"

    def _evict(self, max_faces: int) -> int:
        extra = len(self._review) - max_faces
        if extra <= 0:
            return 0
        doomed = sorted(self._review.values(), key=lambda f: (f.seen_at, f.id))[:extra]
        self._drop(doomed)
        return len(doomed)

    def _drop(self, faces: list[ReviewFace]) -> None:
        for face in faces:
            del self._review[face.id]
        for cluster_id in sorted({f.cluster_id for f in faces}):
            self._restate(cluster_id)

    def review_clusters(self, *, status: str | None = "open", limit: int = 50,
                        offset: int = 0) -> tuple[list[ReviewCluster], int]:
        with self._review_lock:
            rows = [c for c in self._clusters.values() if status is None or c.status == status]
        rows.sort(key=lambda c: (-c.size, -c.last_seen, c.id))
        return rows[offset:offset + limit], len(rows)

    def review_cluster(self, cluster_id: str) -> ReviewCluster:
        with self._review_lock:
            if cluster_id not in self._clusters:
                raise no_cluster(cluster_id)
            return self._clusters[cluster_id]

    def review_faces(self, cluster_id: str) -> list[ReviewFace]:
        with self._review_lock:
            self.review_cluster(cluster_id)
            return self._members(cluster_id)

    def review_face(self, face_id: str) -> ReviewFace:
        with self._review_lock:
            if face_id not in self._review:
                raise no_face(face_id)
            return self._review[face_id]

    def settle_review(self, settlement: Settlement) -> ReviewCluster | None:
        s = settlement
        with self._review_lock:
            cluster = self.review_cluster(s.cluster_id)
            check_settleable(cluster, s)
            faces = self._members(cluster.id)
            picked = chosen(faces, s.face_ids)
            if s.action == "discard":
                self._drop(picked)
                return None
            if s.action in ("name", "assign"):
                self._review_enrol(s.identity, s.identity_id, s.samples)
            whole = len(picked) == len(faces)
            target = cluster.id if whole else s.split_id
            identity_id = s.identity.id if s.identity is not None else s.identity_id
            self._clusters[target] = replace(
                cluster, id=target, status=settled_status(s.action), identity_id=identity_id,
                seen=cluster.seen if whole else len(picked),
                last_seen=cluster.last_seen if whole else max(f.seen_at for f in picked),
                version=cluster.version if whole else 0)
            for face in picked:
                self._review[face.id] = replace(face, cluster_id=target, identity_id=identity_id,
                                                face_id=s.enrolled.get(face.id))
            self._restate(target)
            if not whole:
                self._restate(cluster.id)
            return self._clusters[target]

    def expire_review_items(self, before: float | datetime) -> int:
        with self._review_lock:
            doomed = [f for f in self._review.values() if f.seen_at < epoch(before)]
            self._drop(doomed)
            return len(doomed)

    def erase_review(self, identity_id: str) -> int:
        """Delete the review faces (and named clusters) that belong to ``identity_id``; returns
        how many faces (the erasure receipt's ``review_items``)."""
        with self._review_lock:
            doomed = [f for f in self._review.values() if f.identity_id == identity_id]
            for face in doomed:
                del self._review[face.id]
            for cluster in [c for c in self._clusters.values() if c.identity_id == identity_id]:
                del self._clusters[cluster.id]
            for cluster_id in sorted({f.cluster_id for f in doomed} & set(self._clusters)):
                self._restate(cluster_id)
            return len(doomed)
