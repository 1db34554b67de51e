"""Identify and verify with liveness in one call: a frame sequence (or a video) instead of one
photo. The sequence must pass the blink check (one face, the same person throughout, a full
blink); its best frame (eyes open, most frontal) is then identified or verified exactly as
``/v1/identify`` and ``/v1/verify`` would read that frame as a photo.

Reached as ``POST /v1/identify?liveness=blink`` and ``POST /v1/verify?liveness=blink`` (and
``/v1/liveness/identify``, ``/v1/liveness/verify``). When the sequence is not live, nobody is
named: ``identify``/``verify`` are null and ``live`` is false with the reasons.
"""

from __future__ import annotations

import io
from typing import Any, Literal

from fastapi import APIRouter, Request
from PIL import Image
from pydantic import Field

from facegate.api import audit, events, metrics, views
from facegate.api.deps import FacegateDep, RunnerDep
from facegate.api.inputs import RequestModel
from facegate.api.liveness_schemas import LiveIdentifyOut, LiveVerifyOut
from facegate.api.openapi import (
    BODY,
    BUSY,
    ONE_FACE,
    REFERENCES,
    SEQUENCE,
    STORE,
    answers,
    sequence_body,
)
from facegate.api.routes import feedback
from facegate.api.schemas import DescriptorIn
from facegate.api.sequence_inputs import read_sequence
from facegate.bootstrap import Facegate
from facegate.domain import IdentifyResult, RGBImage, VerifyResult
from facegate.errors import EmptyIdentityError, IdentityNotFoundError, ValidationError
from facegate.services import liveness_report
from facegate.services.liveness import LivenessService, SequenceReport

router = APIRouter(prefix="/v1/liveness", tags=["liveness"])


class LiveIdentifyIn(RequestModel):
    fps: float | None = Field(default=None, gt=0.0, le=240.0)
    threshold: float | None = Field(default=None, gt=0.0, le=2.0)
    top_k: int | None = Field(default=None, ge=1, le=100)
    camera: events.CameraField


class LiveVerifyIn(RequestModel):
    """The sequence's best frame against exactly one of ``image2``, ``identity_id`` or
    ``descriptor``."""

    fps: float | None = Field(default=None, gt=0.0, le=240.0)
    identity_id: str | None = None
    descriptor: DescriptorIn | None = None
    threshold: float | None = Field(default=None, gt=0.0, le=2.0)
    multiple_faces: Literal["reject", "largest"] | None = None
    camera: events.CameraField


def _png(rgb: RGBImage) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _checked(service: LivenessService, frames: list[bytes], video: bytes | None,
             fps: float | None) -> tuple[SequenceReport, bytes | None]:
    """The blink report and, when live, the best frame as lossless image bytes."""
    read = service.read(frames, video, fps)
    report = service.blink(read.rgb, fps=read.fps, sampling=read.sampling)
    if not report.live or report.best_frame is None:
        return report, None
    return report, _png(read.rgb[report.best_frame])


@router.post("/identify", response_model=LiveIdentifyOut, response_model_exclude_unset=True,
             openapi_extra=sequence_body(LiveIdentifyIn),
             responses=answers(*BODY, *SEQUENCE, *BUSY, *STORE))
async def identify_live(request: Request, facegate: FacegateDep, run: RunnerDep,
                        camera: events.CameraQuery = None) -> dict[str, Any]:
    """Who is this, if live? ``frames`` or ``video`` as in ``/v1/liveness/blink``."""
    body, frames, video = await read_sequence(request, LiveIdentifyIn, facegate.settings)
    events.note_camera(request, body.camera, camera)
    service: LivenessService = request.app.state.liveness
    recognition = facegate.recognition

    results: list[IdentifyResult] = []

    def work() -> dict[str, Any]:
        report, best = _checked(service, frames, video, body.fps)
        result = None if best is None else recognition.identify(
            best, threshold=body.threshold, top_k=body.top_k)
        results.extend([result] if result is not None else [])
        return {"live": report.live, "liveness": liveness_report.sequence(report),
                "identify": None if result is None else views.identify(result)}

    answer = await run(work)
    if results:  # the best frame's faces can be given feedback on, as identify's
        await feedback.keep_identify(request, answer["identify"], results[0])
    audit.note_identify(request, answer["identify"])
    audit.note(request, live=answer["live"])
    metrics.note_liveness(request, answer["liveness"])
    metrics.note_identify(request, answer["identify"])
    await events.live_identified(request, answer)
    return answer


@router.post("/verify", response_model=LiveVerifyOut,
             openapi_extra=sequence_body(LiveVerifyIn, "image2", one_of=REFERENCES),
             responses=answers(
                 *BODY, *SEQUENCE, *ONE_FACE, IdentityNotFoundError, EmptyIdentityError,
                 *BUSY, *STORE))
async def verify_live(request: Request, facegate: FacegateDep, run: RunnerDep,
                      camera: events.CameraQuery = None) -> dict[str, Any]:
    """Is this live person the one of ``image2``, ``identity_id`` or ``descriptor``?"""
    second: dict[str, bytes] = {"image2": b""}
    body, frames, video = await read_sequence(request, LiveVerifyIn, facegate.settings,
                                              images=second)
    events.note_camera(request, body.camera, camera)
    references = [bool(second["image2"]), body.identity_id is not None,
                  body.descriptor is not None]
    if sum(references) != 1:
        raise ValidationError("send exactly one of 'image2', 'identity_id' or 'descriptor'")
    service: LivenessService = request.app.state.liveness

    results: list[VerifyResult] = []

    def work() -> dict[str, Any]:
        report, best = _checked(service, frames, video, body.fps)
        result = None if best is None else _verify(facegate, best, second["image2"], body)
        results.extend([result] if result is not None else [])
        verified = None if result is None else views.verify(result, mode=_mode(body, second))
        return {"live": report.live, "match": bool(verified and verified["match"]),
                "liveness": liveness_report.sequence(report), "verify": verified}

    answer = await run(work)
    if results:
        await feedback.keep_verify(request, answer["verify"], results[0])
    audit.note_verify(request, answer["verify"])
    audit.note(request, live=answer["live"], match=answer["match"])
    metrics.note_liveness(request, answer["liveness"])
    metrics.note_verify(request, answer["verify"])
    await events.live_verified(request, answer)
    return answer


def _mode(body: LiveVerifyIn, second: dict[str, bytes]) -> str:
    return "image" if second["image2"] else "identity" if body.identity_id is not None \
        else "descriptor"


def _verify(facegate: Facegate, probe: bytes, image2: bytes,
            body: LiveVerifyIn) -> VerifyResult:
    recognition = facegate.recognition
    options: dict[str, Any] = {"threshold": body.threshold,
                               "multiple_faces": body.multiple_faces}
    if image2:
        return recognition.verify_images(probe, image2, **options)
    if body.identity_id is not None:
        return recognition.verify_identity(probe, body.identity_id, **options)
    return recognition.verify_descriptor(probe, body.descriptor or [], **options)
