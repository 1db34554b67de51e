"""/v1/review: the unknown-face review queue (opt-in; docs/governance.md, docs/api.md).

Reading needs ``read``, acting ``enrol``. Every action names the cluster ``version`` it was
decided on: 409 REVIEW_CLUSTER_CHANGED (nothing done) when the cluster changed meanwhile.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from facegate.api import audit, events, views
from facegate.api import review_schemas as out
from facegate.api.deps import FacegateDep
from facegate.api.openapi import BODY, STORE, answers
from facegate.errors import (
    ClusterChangedError,
    ClusterNotFoundError,
    ConflictError,
    DuplicateFaceError,
    IdentityNotFoundError,
    ReviewFaceNotFoundError,
    ValidationError,
)
from facegate.services.gallery import MAX_OFFSET
from facegate.services.review import ReviewService, Settled

router = APIRouter(prefix="/v1/review", tags=["review"])
ACTED = answers(*BODY, ClusterNotFoundError, ReviewFaceNotFoundError, ClusterChangedError,
                *STORE)
CHIP = {200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
        **answers(ReviewFaceNotFoundError, *STORE)}


def _review(facegate: Any) -> ReviewService:
    review: ReviewService | None = facegate.recognition.review
    assert review is not None  # bootstrap always attaches it (off: it keeps nothing)
    return review


@router.get("/clusters", response_model=out.ClusterPage,
            responses=answers(ValidationError, *STORE))
def list_clusters(
    facegate: FacegateDep,
    status: Annotated[out.ClusterState | None, Query(
        description="open (default), ignored or named")] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Clusters of unknown faces, largest first, then most recently seen. ``enabled`` says
    whether identify keeps unknown faces at all (``FACEGATE_REVIEW__ENABLED``)."""
    review = _review(facegate)
    items, total = review.clusters(status=status, limit=limit, offset=offset)
    return {"enabled": review.enabled, "retention_days": review.options.retention_days,
            "items": [out.cluster(c) for c in items], "total": total, "limit": limit,
            "offset": offset}


@router.get("/clusters/{cluster_id}", response_model=out.ClusterOut,
            responses=answers(ClusterNotFoundError, *STORE))
def get_cluster(cluster_id: str, facegate: FacegateDep) -> dict[str, Any]:
    return out.cluster(_review(facegate).cluster(cluster_id)[0])


@router.get("/clusters/{cluster_id}/faces", response_model=out.ReviewFaceList,
            responses=answers(ClusterNotFoundError, *STORE))
def list_cluster_faces(cluster_id: str, facegate: FacegateDep) -> dict[str, Any]:
    """The cluster (with its current ``version``) and its kept faces, best quality first."""
    cluster, faces = _review(facegate).cluster(cluster_id)
    return {"cluster": out.cluster(cluster), "items": [out.face(f) for f in faces]}


@router.get("/faces/{face_id}/chip", response_class=Response, responses=CHIP)
def get_review_chip(face_id: str, facegate: FacegateDep) -> Response:
    """The unknown face's aligned 150x150 chip as JPEG."""
    chip = _review(facegate).face(face_id).chip_jpeg
    return Response(chip, media_type="image/jpeg",
                    headers={"Cache-Control": "private, no-store"})


def _answer(request: Request, action: str, cluster_id: str, done: Settled) -> dict[str, Any]:
    ids = [done.identity_id] if done.identity_id else []
    audit.note(request, identity_ids=ids, review_cluster=cluster_id, review_action=action,
               review_faces=done.faces, enrolled=len(done.enrolled))
    for sample in done.enrolled:
        events.emit(request, "face.enrolled", **events.enrolled_data(sample))
    return {"action": action, "cluster": out.cluster(done.cluster) if done.cluster else None,
            "identity_id": done.identity_id, "faces": done.faces,
            "enrolled": [views.sample(s) for s in done.enrolled]}


@router.post("/clusters/{cluster_id}/name", response_model=out.ActionOut,
             responses=answers(*BODY, ClusterNotFoundError,
                               ReviewFaceNotFoundError, ClusterChangedError, ConflictError,
                               DuplicateFaceError, *STORE))
def name_cluster(cluster_id: str, body: out.NameIn, facegate: FacegateDep,
                 request: Request) -> dict[str, Any]:
    """A new identity called ``name``, enrolled with the best faces (by quality, at most
    ``review.enrol_best``, one per photo); the faces become that person's (erased with them)."""
    done = _review(facegate).name(cluster_id, version=body.version, name=body.name,
                                  face_ids=body.face_ids)
    events.emit(request, "identity.created", identity_id=done.identity_id, name=body.name)
    return _answer(request, "name", cluster_id, done)


@router.post("/clusters/{cluster_id}/assign", response_model=out.ActionOut,
             responses=answers(*BODY, ClusterNotFoundError, ReviewFaceNotFoundError,
                               ClusterChangedError, ConflictError, IdentityNotFoundError,
                               DuplicateFaceError, *STORE))
def assign_cluster(cluster_id: str, body: out.AssignIn, facegate: FacegateDep,
                   request: Request) -> dict[str, Any]:
    """Enrol the best faces to an existing identity (photos it has a face of are skipped)."""
    done = _review(facegate).assign(cluster_id, version=body.version,
                                    identity_id=body.identity_id, face_ids=body.face_ids)
    return _answer(request, "assign", cluster_id, done)


@router.post("/clusters/{cluster_id}/ignore", response_model=out.ActionOut, responses=ACTED)
def ignore_cluster(cluster_id: str, body: out.ActionIn, facegate: FacegateDep,
                   request: Request) -> dict[str, Any]:
    """Keep the cluster as "nobody in the gallery": unknown faces that join it later are
    counted, not queued (until its faces expire)."""
    done = _review(facegate).ignore(cluster_id, version=body.version, face_ids=body.face_ids)
    return _answer(request, "ignore", cluster_id, done)


@router.post("/clusters/{cluster_id}/discard", response_model=out.ActionOut, responses=ACTED)
def discard_cluster(cluster_id: str, body: out.ActionIn, facegate: FacegateDep,
                    request: Request) -> dict[str, Any]:
    """Delete the cluster's faces (or those of ``face_ids``) now."""
    done = _review(facegate).discard(cluster_id, version=body.version, face_ids=body.face_ids)
    return _answer(request, "discard", cluster_id, done)
