"""The unknown-face review queue (``ReviewQueue``, part of every ``GalleryStore``): faces
identify could not name, grouped into clusters of (probably) one person each, until an operator
names, assigns, ignores or discards them, or they expire (docs/governance.md).

A cluster's ``version`` grows whenever its faces change (one joins, is replaced, leaves or
expires) or an action settles it; an action names the version it was decided on and is refused
whole (``ClusterChangedError``) when that is no longer current. ``open`` clusters wait for a
decision; ``ignored`` ones stay as anchors of "nobody in the gallery" (faces joining them are
counted, not kept); ``named`` ones are history: their faces belong to ``identity_id`` (and are
erased with that person). Times are epoch seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol

import numpy as np

from facegate.domain import Descriptor, FaceSample, Identity
from facegate.errors import (
    ClusterChangedError,
    ClusterNotFoundError,
    ConflictError,
    ReviewFaceNotFoundError,
)
from facegate.storage.feedback import epoch as epoch  # re-exported (one definition)

ClusterStatus = Literal["open", "ignored", "named"]
CLUSTER_STATUSES: tuple[str, ...] = ("open", "ignored", "named")
ReviewAction = Literal["name", "assign", "ignore", "discard"]


@dataclass(frozen=True, slots=True)
class ReviewFace:
    """One unknown face as kept: ``cluster_id`` is empty until the store places it."""

    id: str
    descriptor: Descriptor
    chip_jpeg: bytes
    #: SHA-256 of the photo it came from (enrolling twice from one photo is refused).
    image_sha256: str
    quality: float
    seen_at: float
    camera: str | None = None
    cluster_id: str = ""
    #: Set when it was named or assigned: the person it now belongs to …
    identity_id: str | None = None
    #: … and, for the faces enrolled, the face sample made from it.
    face_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewCluster:
    id: str
    status: ClusterStatus
    version: int
    #: Faces kept in it now.
    size: int
    #: Unknown faces that joined it, kept or not (an ignored cluster counts what it swallowed).
    seen: int
    first_seen: float
    last_seen: float
    #: The kept face of best quality: the cluster's picture.
    best_face_id: str | None
    centroid: Descriptor = field(repr=False)
    identity_id: str | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where ``add_review_face`` put a face: ``queued`` (kept, in ``cluster_id``), ``counted``
    (its cluster is full of better faces), ``ignored`` (it joined an ignored cluster)."""

    outcome: Literal["queued", "counted", "ignored"]
    cluster_id: str
    evicted: int = 0


@dataclass(frozen=True, slots=True)
class Settlement:
    """One review action, decided on ``version`` of the cluster: applied whole or not at all.

    ``face_ids`` None: the whole cluster; else those of its faces (they leave it for a new
    cluster of their own). ``identity`` is created (``name``) or ``identity_id`` must exist
    (``assign``); ``samples`` are enrolled to it, ``enrolled`` maps a review face to its sample.
    """

    cluster_id: str
    version: int
    action: ReviewAction
    face_ids: tuple[str, ...] | None = None
    identity: Identity | None = None
    identity_id: str | None = None
    samples: tuple[FaceSample, ...] = ()
    enrolled: dict[str, str] = field(default_factory=dict)
    #: Id of the new cluster the chosen faces move to (when ``face_ids`` is given).
    split_id: str = ""


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """``within``: the largest distance to a cluster's centroid a joining face may have;
    ``member_within``: … and to each of its kept faces (None: no such check)."""

    within: float
    max_faces: int
    max_per_cluster: int
    member_within: float | None = None


class ReviewQueue(Protocol):
    def add_review_face(self, face: ReviewFace, *, limits: QueueLimits,
                        new_cluster_id: str) -> Placement:
        """Place an unknown face in one transaction: it joins the open or ignored cluster whose
        centroid is nearest within ``limits.within``, else starts ``new_cluster_id``; past
        ``limits.max_faces`` the oldest kept faces are deleted."""
        ...

    def review_clusters(self, *, status: str | None = "open", limit: int = 50,
                        offset: int = 0) -> tuple[list[ReviewCluster], int]:
        """One page, largest first (then most recently seen), and how many match."""
        ...

    def review_cluster(self, cluster_id: str) -> ReviewCluster: ...

    def review_faces(self, cluster_id: str) -> list[ReviewFace]:
        """A cluster's kept faces, best quality first."""
        ...

    def review_face(self, face_id: str) -> ReviewFace: ...

    def settle_review(self, settlement: Settlement) -> ReviewCluster | None:
        """Apply an action in one transaction (the identity and samples with it); returns the
        cluster the chosen faces are in afterwards (None: discarded). ClusterChangedError when
        ``version`` is stale; ClusterNotFoundError, ReviewFaceNotFoundError."""
        ...

    def expire_review_items(self, before: float | datetime) -> int:
        """Delete the kept faces seen before ``before`` (clusters left empty go too); returns
        how many faces."""
        ...


#: How many of the nearest clusters (within the distance) a face may try to join.
CANDIDATES = 3


def nearest(centroids: Sequence[tuple[str, Descriptor]], probe: Descriptor,
            within: float) -> list[str]:
    """The ids of the (at most ``CANDIDATES``) centroids within ``within`` of ``probe``,
    nearest first (Euclidean)."""
    if not centroids:
        return []
    matrix = np.stack([c for _, c in centroids]).astype(np.float32)
    distances = np.linalg.norm(matrix - probe.astype(np.float32), axis=1)
    order = np.argsort(distances, kind="stable")[:CANDIDATES]
    return [centroids[int(i)][0] for i in order if float(distances[int(i)]) <= within]


def fits(faces: Sequence[ReviewFace], probe: Descriptor, limits: QueueLimits) -> bool:
    """Whether ``probe`` is within ``member_within`` of every kept face: a cluster's mean
    drifts towards the average face as it mixes people, and would then swallow everybody."""
    if limits.member_within is None or not faces:
        return True
    matrix = np.stack([f.descriptor for f in faces]).astype(np.float32)
    return bool(np.all(np.linalg.norm(matrix - probe.astype(np.float32), axis=1)
                       <= limits.member_within))


def summary(cluster: ReviewCluster, faces: Sequence[ReviewFace], *,
            bump: bool = True) -> ReviewCluster:
    """``cluster`` restated from its kept ``faces`` (centroid, size, best face, times)."""
    if not faces:
        return replace(cluster, size=0, best_face_id=None,
                       version=cluster.version + int(bump))
    best = max(faces, key=lambda f: (f.quality, f.seen_at))
    centroid = np.mean(np.stack([f.descriptor for f in faces]), axis=0).astype(np.float32)
    return replace(cluster, size=len(faces), best_face_id=best.id, centroid=centroid,
                   first_seen=min(f.seen_at for f in faces),
                   version=cluster.version + int(bump))


def chosen(faces: Sequence[ReviewFace], face_ids: Sequence[str] | None) -> list[ReviewFace]:
    """The faces a settlement acts on, or ReviewFaceNotFoundError naming one not there."""
    if face_ids is None:
        return list(faces)
    by_id = {f.id: f for f in faces}
    missing = [f for f in face_ids if f not in by_id]
    if missing:
        raise ReviewFaceNotFoundError(f"the cluster has no face {missing[0]!r}",
                                      details={"face_id": missing[0]})
    return [by_id[f] for f in dict.fromkeys(face_ids)]


def no_cluster(cluster_id: str) -> ClusterNotFoundError:
    return ClusterNotFoundError(f"no review cluster with id {cluster_id!r}")


def no_face(face_id: str) -> ReviewFaceNotFoundError:
    return ReviewFaceNotFoundError(f"no face {face_id!r} in the review queue")


def check_settleable(cluster: ReviewCluster, settlement: Settlement) -> None:
    """ClusterChangedError when ``settlement`` was decided on another version of ``cluster``;
    ConflictError when it is named already and the action is not ``discard``."""
    if cluster.version != settlement.version:
        raise ClusterChangedError(
            f"cluster {cluster.id!r} changed since version {settlement.version}: reload it",
            details={"cluster_id": cluster.id, "version": cluster.version})
    if cluster.status == "named" and settlement.action != "discard":
        raise ConflictError(f"cluster {cluster.id!r} is named already")


def settled_status(action: ReviewAction) -> ClusterStatus:
    return "ignored" if action == "ignore" else "named"
