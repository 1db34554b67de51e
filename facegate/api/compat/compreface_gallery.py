"""CompreFace's face collection: subjects (a subject is a facegate identity, by name: the oldest
identity with exactly that name) and their examples (a facegate face sample, its ``image_id``
the sample's UUID). Thin over ``GalleryService``; audited and evented like /v1/identities."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from facegate.api import audit, events
from facegate.api.compat import compreface_shapes as shapes
from facegate.api.compat.compreface_wire import (
    CONSTRAINT_VIOLATION,
    IMAGE_NOT_FOUND,
    PREFIX,
    SUBJECT_EXISTS,
    SUBJECT_NOT_FOUND,
    CompreFaceError,
    CompreFaceRoute,
    images,
    service_key,
)
from facegate.api.deps import FacegateDep, GalleryDep, RunnerDep
from facegate.domain import FaceSample, Identity
from facegate.errors import DuplicateFaceError
from facegate.services.gallery import GalleryService
from facegate.storage.base import new_id

router = APIRouter(prefix=f"{PREFIX}/recognition", route_class=CompreFaceRoute,
                   dependencies=[service_key("Recognition", "enrol", reads="read")])
Text = Annotated[str | None, Query(max_length=200)]


def all_identities(gallery: GalleryService) -> Iterator[Identity]:
    offset = 0
    while True:
        page, total = gallery.list_identities(limit=1000, offset=offset)
        yield from page
        offset += len(page)
        if not page or offset >= total:
            return


def subject_of(gallery: GalleryService, name: str) -> Identity:
    found = gallery.find_by_name(name)
    if found is None:
        raise CompreFaceError(404, SUBJECT_NOT_FOUND, f"Subject {name} not found",
                              facegate_code="IDENTITY_NOT_FOUND")
    return found


def example_of(gallery: GalleryService, image: str) -> tuple[Identity, FaceSample]:
    """The identity and sample an image id names (404 code 11 when none does)."""
    guess = shapes.face_id_guess(image)
    for identity in all_identities(gallery):
        for sample in gallery.list_faces(identity.id) if identity.face_count else ():
            if sample.id == guess or shapes.image_id(sample.id) == image:
                return identity, sample
    raise CompreFaceError(404, IMAGE_NOT_FOUND, f"Image {image} not found",
                          facegate_code="FACE_NOT_FOUND")


class SubjectIn(BaseModel):
    """``{"subject": name}``; other keys (the Python SDK sends ``api_endpoint``) ignored."""

    model_config = ConfigDict(extra="ignore")
    subject: str = Field(min_length=1, max_length=200)


# subjects ------------------------------------------------------------------------------------

@router.post("/subjects", status_code=201)
def add_subject(body: SubjectIn, request: Request, gallery: GalleryDep) -> dict[str, Any]:
    name = body.subject.strip()
    if gallery.find_by_name(name) is not None:
        raise CompreFaceError(400, SUBJECT_EXISTS, "Subject already exists",
                              facegate_code="CONFLICT")
    identity = gallery.create_identity(name=name)
    audit.note(request, identity_ids=[identity.id])
    events.emit(request, "identity.created", identity_id=identity.id, name=identity.name)
    return {"subject": identity.name}


@router.get("/subjects")
def list_subjects(gallery: GalleryDep) -> dict[str, Any]:
    return {"subjects": list(dict.fromkeys(i.name for i in all_identities(gallery)))}


@router.put("/subjects/{subject}")
def rename_subject(subject: str, body: SubjectIn, request: Request,
                   gallery: GalleryDep) -> dict[str, Any]:
    """Rename; onto an existing subject, the examples move there and the old one goes."""
    new_name = body.subject.strip()
    source = subject_of(gallery, subject)
    target = gallery.find_by_name(new_name)
    audit.note(request, identity_ids=[source.id])
    if target is None or target.id == source.id:
        gallery.update_identity(source.id, name=new_name)
        events.emit(request, "identity.updated", identity_id=source.id, name=new_name,
                    changed=["name"])
        return {"updated": True}
    moved = _merge(gallery, source, target)
    audit.note(request, identity_ids=[target.id], faces_moved=len(moved))
    for sample in moved:
        events.emit(request, "face.enrolled", **events.enrolled_data(sample))
    events.emit(request, "identity.deleted", identity_id=source.id, faces_deleted=len(moved))
    return {"updated": True}


def _merge(gallery: GalleryService, source: Identity, target: Identity) -> list[FaceSample]:
    """Copy every sample of ``source`` to ``target`` first, then delete ``source``: a crash in
    between leaves both (nothing lost), never neither."""
    moved = []
    for sample in gallery.list_faces(source.id):
        copy = dataclasses.replace(sample, id=new_id(), identity_id=target.id)
        try:
            gallery.indexed.add(copy)
        except DuplicateFaceError:  # the same photo is already the target's
            continue
        moved.append(copy)
    gallery.delete_identity(source.id)
    return moved


@router.delete("/subjects/{subject}")
def delete_subject(subject: str, request: Request, gallery: GalleryDep) -> dict[str, Any]:
    identity = subject_of(gallery, subject)
    audit.note(request, identity_ids=[identity.id])
    faces = gallery.delete_identity(identity.id)
    events.emit(request, "identity.deleted", identity_id=identity.id, faces_deleted=faces)
    return {"subject": identity.name}


@router.delete("/subjects")
def delete_all_subjects(request: Request, gallery: GalleryDep) -> dict[str, Any]:
    doomed = list(all_identities(gallery))
    audit.note(request, identity_ids=[i.id for i in doomed][:32], subjects=len(doomed))
    for identity in doomed:
        faces = gallery.delete_identity(identity.id)
        events.emit(request, "identity.deleted", identity_id=identity.id, faces_deleted=faces)
    return {"deleted": len(doomed)}


# examples ------------------------------------------------------------------------------------

@router.post("/faces", status_code=201)
async def add_example(request: Request, facegate: FacegateDep, run: RunnerDep,
                      subject: Text = None) -> dict[str, Any]:
    """Enrol the photo's one face; the subject is created with it when missing (in one
    transaction: a refused photo leaves no empty subject). The same photo twice: its id."""
    if not subject or not subject.strip():
        raise CompreFaceError(400, CONSTRAINT_VIOLATION, "subject must not be empty")
    name, data = subject.strip(), (await images(request, "file"))["file"]
    gallery = facegate.gallery
    identity = gallery.find_by_name(name)
    try:
        if identity is None:
            enrolled = await run(lambda: gallery.enroll_new_identity(name=name, data=data))
            await events.emit_one(request, "identity.created",
                                  identity_id=enrolled.sample.identity_id, name=name)
        else:
            known = identity
            enrolled = await run(lambda: gallery.enroll_image(known.id, data))
    except DuplicateFaceError:
        assert identity is not None  # a new identity has no faces to repeat
        sha = hashlib.sha256(data).hexdigest()
        same = next((s for s in gallery.list_faces(identity.id) if s.image_sha256 == sha), None)
        if same is None:  # deleted again meanwhile
            raise CompreFaceError(400, CONSTRAINT_VIOLATION, "this photo was just enrolled and "
                                  "deleted again: send it once more") from None
        return {"image_id": shapes.image_id(same.id), "subject": identity.name}
    audit.note(request, identity_ids=[enrolled.sample.identity_id], face_id=enrolled.sample.id)
    await events.emit_one(request, "face.enrolled", **events.enrolled_data(enrolled.sample))
    return {"image_id": shapes.image_id(enrolled.sample.id), "subject": name}


@router.get("/faces")
def list_examples(gallery: GalleryDep, subject: Text = None,
                  page: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
                  size: Annotated[int, Query(ge=1, le=1000)] = 20) -> dict[str, Any]:
    """One page of examples, subjects oldest first."""
    chosen = [subject_of(gallery, subject)] if subject else all_identities(gallery)
    start, total = page * size, 0
    found: list[dict[str, str]] = []
    for identity in chosen:
        count = identity.face_count
        if count and total + count > start and len(found) < size:
            skip = max(0, start - total)
            for sample in gallery.list_faces(identity.id)[skip:skip + size - len(found)]:
                found.append({"image_id": shapes.image_id(sample.id), "subject": identity.name})
        total += count
    return {"faces": found, "page_number": page, "page_size": size,
            "total_pages": -(-total // size), "total_elements": total}


@router.delete("/faces")
def delete_examples(request: Request, gallery: GalleryDep,
                    subject: Text = None) -> dict[str, Any]:
    """Every example of the subject (the subject stays), or with no subject every example."""
    chosen = [subject_of(gallery, subject)] if subject else list(all_identities(gallery))
    deleted = 0
    for identity in chosen:
        for sample in gallery.list_faces(identity.id) if identity.face_count else ():
            gallery.delete_face(identity.id, sample.id)
            events.emit(request, "face.deleted", identity_id=identity.id, face_id=sample.id)
            deleted += 1
    audit.note(request, identity_ids=[i.id for i in chosen][:32], faces_deleted=deleted)
    return {"deleted": deleted}


@router.delete("/faces/{image_id}")
def delete_example(image_id: str, request: Request, gallery: GalleryDep) -> dict[str, Any]:
    identity, sample = example_of(gallery, image_id)
    return _delete(request, gallery, identity, sample)


def _delete(request: Request, gallery: GalleryService, identity: Identity,
                  sample: FaceSample) -> dict[str, Any]:
    gallery.delete_face(identity.id, sample.id)
    audit.note(request, identity_ids=[identity.id])
    events.emit(request, "face.deleted", identity_id=identity.id, face_id=sample.id)
    return {"image_id": shapes.image_id(sample.id), "subject": identity.name}


@router.post("/faces/delete")
def delete_examples_by_id(ids: Annotated[list[str], Body(max_length=1000)], request: Request,
                          gallery: GalleryDep) -> list[dict[str, Any]]:
    """The examples of the listed image ids; ids that name none are skipped."""
    done = []
    for image in dict.fromkeys(ids):
        try:
            identity, sample = example_of(gallery, image)
        except CompreFaceError:
            continue
        done.append(_delete(request, gallery, identity, sample))
    return done


@router.get("/faces/{image_id}/img")
def download_example(image_id: str, gallery: GalleryDep) -> Response:
    """facegate keeps the aligned face chip, not the uploaded photo: the chip (JPEG)."""
    _, sample = example_of(gallery, image_id)
    if not sample.chip_jpeg:
        raise CompreFaceError(404, IMAGE_NOT_FOUND, f"Image {image_id} not found",
                              facegate_code="FACE_NOT_FOUND")
    return Response(sample.chip_jpeg, media_type="image/jpeg",
                    headers={"Cache-Control": "private, no-store"})
