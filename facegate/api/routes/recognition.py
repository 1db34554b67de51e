"""/v1/identify, /v1/verify, /v1/detect, /v1/embed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from facegate.api import audit, events, metrics, views
from facegate.api.deps import FacegateDep, RunnerDep
from facegate.api.inputs import RequestModel, read_body
from facegate.api.liveness_schemas import LiveIdentifyOut, LiveVerifyOut
from facegate.api.openapi import (
    BODY,
    BUSY,
    IMAGE,
    ONE_FACE,
    REFERENCES,
    SEQUENCE,
    STORE,
    answers,
    image_body,
)
from facegate.api.routes import feedback
from facegate.api.routes.liveness_recognition import identify_live, verify_live
from facegate.api.schemas import (
    DescriptorIn,
    DetectOut,
    EmbedOut,
    IdentifyOut,
    VerifyOut,
)
from facegate.errors import (
    EmptyIdentityError,
    IdentityNotFoundError,
    NoFaceError,
    ValidationError,
)

router = APIRouter(prefix="/v1", tags=["recognition"])
#: ``blink``: the body is a frame sequence that must pass the blink check first. Left out of
#: the OpenAPI document, which cannot tie a body to a query parameter: it documents that body at
#: /v1/liveness/identify and /v1/liveness/verify, the same routes.
LivenessQuery = Annotated[Literal["blink"] | None, Query(include_in_schema=False)]


class ImageIn(RequestModel):
    """Only the image."""


class IdentifyIn(RequestModel):
    threshold: float | None = Field(default=None, gt=0.0, le=2.0,
                                    description="distance threshold (default: server's)")
    top_k: int | None = Field(default=None, ge=1, le=100)
    camera: events.CameraField


class VerifyIn(RequestModel):
    """``image`` against exactly one of ``image2``, ``identity_id`` or ``descriptor``."""

    identity_id: str | None = None
    descriptor: DescriptorIn | None = None
    threshold: float | None = Field(default=None, gt=0.0, le=2.0)
    multiple_faces: Literal["reject", "largest"] | None = None
    camera: events.CameraField


async def _image(request: Request, facegate: Any, model: type[BaseModel],
                 *fields: str) -> tuple[Any, dict[str, bytes]]:
    body, images = await read_body(request, model, image_fields=fields,
                                   max_image_bytes=facegate.settings.image.max_upload_bytes)
    if "image" not in images:
        raise ValidationError("an 'image' is required (file part or base64)")
    return body, images


@router.post("/identify", response_model=IdentifyOut | LiveIdentifyOut,
             response_model_exclude_unset=True, openapi_extra=image_body(IdentifyIn, "image"),
             responses=answers(*BODY, *SEQUENCE, NoFaceError, *BUSY, *STORE))
async def identify(request: Request, facegate: FacegateDep, run: RunnerDep,
                   liveness: LivenessQuery = None,
                   camera: events.CameraQuery = None) -> dict[str, Any]:
    """Every face in the photo with its top-k identities and a decision: the identity, or
    ``unknown`` when the nearest is farther than the threshold. No face → 422 NO_FACE_FOUND.
    With ``?liveness=blink``: ``frames`` or a ``video`` instead of ``image`` (docs/liveness.md)."""
    if liveness is not None:
        return await identify_live(request, facegate, run, camera=camera)
    body, images = await _image(request, facegate, IdentifyIn, "image")
    events.note_camera(request, body.camera, camera)
    recognition = facegate.recognition
    result = await run(lambda: recognition.identify(
        images["image"], threshold=body.threshold, top_k=body.top_k,
        camera=request.state.camera))
    if not result.faces:
        metrics.note_identify(request, {"faces": [], "timings_ms": result.timings.stages})
        raise NoFaceError("no face was found in the image")
    answer = views.identify(result)
    await feedback.keep_identify(request, answer, result)
    audit.note_identify(request, answer)
    metrics.note_identify(request, answer)
    await events.identified(request, answer, result)
    return answer


@router.post("/verify", response_model=VerifyOut | LiveVerifyOut,
             openapi_extra=image_body(VerifyIn, "image", "image2", one_of=REFERENCES),
             responses=answers(
                 *BODY, *SEQUENCE, *ONE_FACE, IdentityNotFoundError, EmptyIdentityError,
                 *BUSY, *STORE))
async def verify(request: Request, facegate: FacegateDep, run: RunnerDep,
                 liveness: LivenessQuery = None,
                 camera: events.CameraQuery = None) -> dict[str, Any]:
    """1:1 — ``image`` vs ``image2``, vs an enrolled ``identity_id``, or vs a ``descriptor``.
    With ``?liveness=blink``: ``frames`` or a ``video`` instead of ``image`` (docs/liveness.md)."""
    if liveness is not None:
        return await verify_live(request, facegate, run, camera=camera)
    body, images = await _image(request, facegate, VerifyIn, "image", "image2")
    events.note_camera(request, body.camera, camera)
    references = [("image2" in images), body.identity_id is not None,
                  body.descriptor is not None]
    if sum(references) != 1:
        raise ValidationError("send exactly one of 'image2', 'identity_id' or 'descriptor'")
    if body.identity_id is not None:  # named in the audit row even when verify fails
        audit.note(request, identity_ids=[body.identity_id])
    recognition, probe = facegate.recognition, images["image"]
    options = {"threshold": body.threshold, "multiple_faces": body.multiple_faces}
    if "image2" in images:
        second = images["image2"]
        result = await run(lambda: recognition.verify_images(probe, second, **options))
        mode = "image"
    elif body.identity_id is not None:
        identity_id = body.identity_id
        result = await run(lambda: recognition.verify_identity(probe, identity_id, **options))
        mode = "identity"
    else:
        descriptor = body.descriptor or []
        result = await run(lambda: recognition.verify_descriptor(probe, descriptor, **options))
        mode = "descriptor"
    answer = views.verify(result, mode=mode)
    await feedback.keep_verify(request, answer, result)
    audit.note_verify(request, answer)
    metrics.note_verify(request, answer)
    await events.verified(request, answer)
    return answer


@router.post("/detect", response_model=DetectOut, openapi_extra=image_body(ImageIn, "image"),
             responses=answers(*BODY, *IMAGE, *BUSY))
async def detect(request: Request, facegate: FacegateDep, run: RunnerDep) -> dict[str, Any]:
    """Every face: box, detection score, five landmarks and quality. No face → ``faces: []``."""
    _, images = await _image(request, facegate, ImageIn, "image")
    recognition = facegate.recognition
    image, faces, timings = await run(lambda: recognition.detect(images["image"]))
    metrics.note_timings(request, timings.stages)
    return {"image": {"width": image.width, "height": image.height},
            "faces": [views.face(f) for f in faces], "timings_ms": views.timings(timings)}


@router.post("/embed", response_model=EmbedOut, openapi_extra=image_body(ImageIn, "image"),
             responses=answers(*BODY, *IMAGE, NoFaceError, *BUSY))
async def embed(request: Request, facegate: FacegateDep, run: RunnerDep) -> dict[str, Any]:
    """Every face with its 128-number descriptor, for clients that keep reference embeddings."""
    _, images = await _image(request, facegate, ImageIn, "image")
    recognition = facegate.recognition
    image, faces, timings = await run(lambda: recognition.embed(images["image"]))
    metrics.note_timings(request, timings.stages)
    if not faces:
        raise NoFaceError("no face was found in the image")
    return {"image": {"width": image.width, "height": image.height},
            "model": facegate.pipeline.embedder.model_name, "metric": "euclidean",
            "faces": [views.face(f, descriptor=True) for f in faces],
            "timings_ms": views.timings(timings)}
