"""Bodies and answers of /v1/review (the unknown-face review queue), and their views."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from facegate.api.inputs import RequestModel
from facegate.api.schemas import SampleOut, Timestamp
from facegate.storage.review import ReviewCluster, ReviewFace

ClusterState = Literal["open", "ignored", "named"]
Version = Field(ge=0, le=2**62, description="the cluster version this decision was made on "
                "(its `version`); a stale one is refused with 409 REVIEW_CLUSTER_CHANGED")
FaceIds = Field(default=None, min_length=1, max_length=1000,
                description="only these faces of the cluster (default: all of them)")


class ActionIn(RequestModel):
    version: int = Version
    face_ids: list[str] | None = FaceIds


class NameIn(ActionIn):
    name: str = Field(min_length=1, max_length=200)


class AssignIn(ActionIn):
    identity_id: str = Field(min_length=1, max_length=200)


class ClusterOut(BaseModel):
    """A cluster of unknown faces, probably of one person."""

    id: str
    status: ClusterState
    version: int
    #: faces kept in it now
    size: int
    #: unknown faces that joined it, kept or not
    seen: int
    first_seen: Timestamp
    last_seen: Timestamp
    best_face_id: str | None
    chip_url: str | None
    identity_id: str | None


class ClusterPage(BaseModel):
    enabled: bool
    retention_days: float
    items: list[ClusterOut]
    total: int
    limit: int
    offset: int


class ReviewFaceOut(BaseModel):
    """One kept unknown face (never its descriptor)."""

    id: str
    cluster_id: str
    quality: float
    seen_at: Timestamp
    camera: str | None
    identity_id: str | None
    face_id: str | None
    chip_url: str


class ReviewFaceList(BaseModel):
    cluster: ClusterOut
    items: list[ReviewFaceOut]


class ActionOut(BaseModel):
    action: Literal["name", "assign", "ignore", "discard"]
    #: where the faces acted on are now (null: discarded)
    cluster: ClusterOut | None
    identity_id: str | None
    faces: int
    enrolled: list[SampleOut]


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def face_chip(face_id: str) -> str:
    return f"/v1/review/faces/{face_id}/chip"


def cluster(item: ReviewCluster) -> dict[str, Any]:
    return {"id": item.id, "status": item.status, "version": item.version, "size": item.size,
            "seen": item.seen, "first_seen": when(item.first_seen),
            "last_seen": when(item.last_seen), "best_face_id": item.best_face_id,
            "chip_url": face_chip(item.best_face_id) if item.best_face_id else None,
            "identity_id": item.identity_id}


def face(item: ReviewFace) -> dict[str, Any]:
    return {"id": item.id, "cluster_id": item.cluster_id, "quality": item.quality,
            "seen_at": when(item.seen_at), "camera": item.camera,
            "identity_id": item.identity_id, "face_id": item.face_id,
            "chip_url": face_chip(item.id)}
