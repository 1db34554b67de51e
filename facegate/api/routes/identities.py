"""/v1/identities: the gallery (people and their face samples)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field

from facegate.api import audit, events, views
from facegate.api.deps import FacegateDep, GalleryDep, RunnerDep, require
from facegate.api.governance_schemas import ConsentIn
from facegate.api.inputs import RequestModel, read_body
from facegate.api.openapi import BODY, BUSY, IMAGE, ONE_FACE, STORE, answers, image_body
from facegate.api.schemas import (
    Deleted,
    DescriptorIn,
    EnrolledFace,
    IdentityDeleted,
    IdentityOut,
    IdentityPage,
    SampleList,
    SampleOut,
)
from facegate.errors import (
    ConflictError,
    ConsentRequiredError,
    DuplicateFaceError,
    FaceNotFoundError,
    IdentityNotFoundError,
    ValidationError,
)
from facegate.services import governance
from facegate.services.gallery import MAX_OFFSET
from facegate.storage.base import UNSET

router = APIRouter(prefix="/v1/identities", tags=["gallery"])
ONE = answers(IdentityNotFoundError, *STORE)
FACE = answers(FaceNotFoundError, IdentityNotFoundError, *STORE)


class IdentityIn(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    external_id: str | None = Field(default=None, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    consent: ConsentIn | None = None
    expires_at: datetime | None = None


class IdentityPatch(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    external_id: str | None = Field(default=None, max_length=200)
    metadata: dict[str, Any] | None = None
    consent: ConsentIn | None = None
    expires_at: datetime | None = None


class FaceIn(RequestModel):
    """Add a face: ``image`` (file part or base64), or a ``descriptor`` of 128 numbers."""

    descriptor: DescriptorIn | None = None
    multiple_faces: Literal["reject", "largest"] | None = None


@router.post("", status_code=201, response_model=IdentityOut, responses=answers(
    *BODY, ConflictError, ConsentRequiredError, *STORE))
def create_identity(body: IdentityIn, gallery: GalleryDep, request: Request) -> dict[str, Any]:
    """Create an identity (a person), optionally with its consent record and expiry; add
    faces to it next."""
    answer = views.identity(gallery.create_identity(
        name=body.name, external_id=body.external_id, metadata=body.metadata,
        consent=body.consent.record() if body.consent else None, expires_at=body.expires_at))
    audit.note(request, identity_ids=[answer["id"]])
    events.emit(request, "identity.created", identity_id=answer["id"], name=answer["name"])
    return answer


@router.get("", response_model=IdentityPage,
            responses=answers(ValidationError, *STORE))
def list_identities(
    gallery: GalleryDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    name: Annotated[str | None, Query(max_length=200, description="name contains")] = None,
) -> dict[str, Any]:
    """One page of identities, oldest first, optionally filtered by a name substring."""
    items, total = gallery.list_identities(name_contains=name, limit=limit, offset=offset)
    return {"items": [views.identity(i) for i in items], "total": total, "limit": limit,
            "offset": offset}


@router.get("/{identity_id}", response_model=IdentityOut, responses=ONE)
def get_identity(identity_id: str, gallery: GalleryDep) -> dict[str, Any]:
    return views.identity(gallery.get_identity(identity_id))


@router.patch("/{identity_id}", response_model=IdentityOut, responses=answers(
    IdentityNotFoundError, ConflictError, ConsentRequiredError, *BODY, *STORE))
def update_identity(identity_id: str, body: IdentityPatch, gallery: GalleryDep,
                    request: Request) -> dict[str, Any]:
    """Change name, external id, metadata, consent or expiry; fields left out stay as they
    are (null clears consent or expiry)."""
    sent = body.model_fields_set
    name: str = UNSET
    if "name" in sent:
        if body.name is None:
            raise ValidationError("name cannot be null")
        name = body.name
    updated = gallery.update_identity(
        identity_id,
        name=name,
        external_id=body.external_id if "external_id" in sent else UNSET,
        metadata=(body.metadata or {}) if "metadata" in sent else UNSET,
        consent=(body.consent.record() if body.consent else None) if "consent" in sent else UNSET,
        expires_at=body.expires_at if "expires_at" in sent else UNSET,
    )
    events.emit(request, "identity.updated", identity_id=updated.id, name=updated.name,
                changed=sorted(sent))
    return views.identity(updated)


@router.delete("/{identity_id}", response_model=IdentityDeleted, responses=ONE)
def delete_identity(identity_id: str, gallery: GalleryDep, request: Request) -> dict[str, Any]:
    """Erase the identity with its face samples, chips and everything linked to them (outbox
    events naming them included); answers the erasure receipt (docs/governance.md)."""
    erased = gallery.erase_identity(identity_id)
    principal = getattr(request.state, "principal", None)
    receipt = governance.receipt(identity_id, erased, actor=governance.actor_of(
        principal.kind if principal else "anonymous", principal.id if principal else None,
        principal.name if principal else None))
    audit.note(request, receipt={k: v for k, v in receipt.items() if k != "actor"})  # the row's
    events.emit(request, "identity.deleted", identity_id=identity_id, faces_deleted=len(erased))
    return {"deleted": identity_id, "faces_deleted": len(erased), "receipt": receipt}


@router.get("/{identity_id}/export", response_class=Response, dependencies=[require("enrol")],
            responses={200: {"content": {"application/zip": {
                "schema": {"type": "string", "format": "binary"}}}},
                **answers(IdentityNotFoundError, *STORE)})
def export_identity(identity_id: str, gallery: GalleryDep, request: Request) -> Response:
    """The person's own data as a zip (GDPR Art. 15): ``person.json`` (record, consent,
    expiry, each face's enrolment time) and ``chips/<face_id>.jpg``; never descriptors. Needs
    ``read`` and ``enrol``."""
    identity, data = governance.export_zip(gallery.indexed.store, identity_id)
    audit.note(request, export_faces=identity.face_count)
    return Response(data, media_type="application/zip", headers={
        "Cache-Control": "private, no-store",
        "Content-Disposition": f'attachment; filename="person-{identity.id}.zip"'})


@router.post("/{identity_id}/faces", status_code=201, response_model=EnrolledFace,
             response_model_exclude_unset=True,
             openapi_extra=image_body(FaceIn, "image", required=(),
                                        one_of=("image", "descriptor")), responses=answers(
                 *BODY, *IMAGE, *ONE_FACE, DuplicateFaceError, IdentityNotFoundError, *BUSY,
                 ConsentRequiredError,
                 *STORE))
async def add_face(
    identity_id: str, request: Request, facegate: FacegateDep, run: RunnerDep
) -> dict[str, Any]:
    """Enrol a face from a photo (exactly one face unless ``multiple_faces=largest``) or a
    descriptor."""
    body, images = await read_body(request, FaceIn, image_fields=("image",),
                                   max_image_bytes=facegate.settings.image.max_upload_bytes)
    gallery = facegate.gallery
    if ("image" in images) == (body.descriptor is not None):
        raise ValidationError("send exactly one of 'image' or 'descriptor'")
    if body.descriptor is not None:
        enrolled = gallery.enroll_descriptor(identity_id, body.descriptor)
    else:
        data = images["image"]
        enrolled = await run(lambda: gallery.enroll_image(
            identity_id, data, multiple_faces=body.multiple_faces))
    out: dict[str, Any] = {"face": views.sample(enrolled.sample)}
    audit.note(request, face_id=enrolled.sample.id)
    await events.emit_one(request, "face.enrolled", **events.enrolled_data(enrolled.sample))
    if enrolled.face is not None:
        out["detection"] = views.face(enrolled.face)
        out["warnings"] = [{
            "code": "CLOSER_TO_ANOTHER_PERSON", "identity_id": n.identity_id, "name": n.name,
            "distance": round(n.distance, 6),
            "message": f"this face is nearer {n.name!r} (distance {n.distance:.3f}) than "
                       "this person's own faces: check it is the right person"}
            for n in enrolled.nearer]
    return out


@router.get("/{identity_id}/faces", response_model=SampleList, responses=ONE)
def list_faces(identity_id: str, gallery: GalleryDep) -> dict[str, Any]:
    return {"items": [views.sample(s) for s in gallery.list_faces(identity_id)]}


@router.get("/{identity_id}/faces/{face_id}", response_model=SampleOut, responses=FACE)
def get_face(identity_id: str, face_id: str, gallery: GalleryDep) -> dict[str, Any]:
    return views.sample(gallery.get_face(identity_id, face_id))


@router.get("/{identity_id}/faces/{face_id}/chip", response_class=Response, responses={
    200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
    **FACE})
def get_chip(identity_id: str, face_id: str, gallery: GalleryDep) -> Response:
    """The aligned 150x150 face chip as JPEG (404 FACE_NOT_FOUND for descriptor-only faces)."""
    sample = gallery.get_face(identity_id, face_id)
    if not sample.chip_jpeg:
        raise FaceNotFoundError(f"face {face_id!r} was enrolled from a descriptor: no chip")
    return Response(sample.chip_jpeg, media_type="image/jpeg",
                     headers={"Cache-Control": "private, no-store"})


@router.delete("/{identity_id}/faces/{face_id}", response_model=Deleted, responses=FACE)
def delete_face(identity_id: str, face_id: str, gallery: GalleryDep,
                request: Request) -> dict[str, Any]:
    gallery.delete_face(identity_id, face_id)
    events.emit(request, "face.deleted", identity_id=identity_id, face_id=face_id)
    return {"deleted": face_id}
