"""DeepStack's / CodeProject.AI's face API (``/v1/vision/face...``) over facegate's services.

Multipart (or urlencoded) form posts, the key in the ``api_key`` field (deepstack_wire). The
routes mirror facegate's own: recognize is ``/v1/identify``, match is ``/v1/verify`` photo vs
photo, detect is ``/v1/detect``, register adds faces to an identity named by the ``userid``
(deepstack_gallery), and each audits, counts metrics and emits events as its native route does.

Scores (docs/compat.md): a recognized face's ``confidence`` and match's ``similarity`` are
``similarity.score`` of the distance with facegate's threshold landing on 0.67 (DeepStack's
default ``min_confidence``), so *named* ⇔ confidence ≥ 0.67 ⇔ facegate's own decision. A
client's ``min_confidence`` can only make recognition stricter: a face facegate calls unknown
stays ``unknown`` (confidence 0) whatever the client asks. A detection's ``confidence`` is
``1 − 0.2·e^(−score)`` of the detector's score (every face facegate's detector accepts is at
least 0.8, so DeepStack's default cuts keep them all).
"""

from __future__ import annotations

import math
import time
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request

from facegate.api import audit, events, metrics, views
from facegate.api.compat import deepstack_gallery as userids
from facegate.api.compat.deepstack_wire import (
    NO_IMAGE,
    NO_USERID,
    DeepStackError,
    DeepStackRoute,
    Form,
    authorize,
    read_form,
)
from facegate.api.compat.similarity import DEEPSTACK_AT_THRESHOLD, decision_distances, score
from facegate.api.deps import FacegateDep, RunnerDep
from facegate.bootstrap import Facegate
from facegate.domain import Box, FaceIdentification
from facegate.errors import NoFaceError

PREFIX = "/v1/vision/face"
router = APIRouter(prefix=PREFIX, route_class=DeepStackRoute, include_in_schema=False,
                   tags=["deepstack"])
#: DeepStack's defaults when a client sends no ``min_confidence``.
DETECT_MIN_CONFIDENCE = 0.55
RECOGNIZE_MIN_CONFIDENCE = DEEPSTACK_AT_THRESHOLD


async def _form(request: Request, facegate: Facegate, scope: str) -> Form:
    form = await read_form(request, max_image_bytes=facegate.settings.image.max_upload_bytes)
    await authorize(request, form, scope)
    return form


def _ok(started: float, **fields: Any) -> dict[str, Any]:
    return {"success": True, **fields, "duration": round(time.perf_counter() - started, 4)}


def _box(box: Box, width: int, height: int) -> dict[str, int]:
    """DeepStack's box: integer corners, inside the image."""
    def clamp(value: int, top: int) -> int:
        return max(0, min(int(value), top))
    return {"x_min": clamp(box.left, width), "y_min": clamp(box.top, height),
            "x_max": clamp(box.right, width), "y_max": clamp(box.bottom, height)}


def detection_confidence(detector_score: float) -> float:
    """The detector's score (dlib's SVM margin, 0 at its edge) as a 0..1 confidence."""
    return round(max(0.0, min(1.0, 1.0 - 0.2 * math.exp(-detector_score))), 6)


def recognized(face: FaceIdentification, width: int, height: int,
               min_confidence: float) -> dict[str, Any]:
    """One face of a recognize answer: the identity's name when facegate's decision names it
    and its confidence is at least ``min_confidence``, else ``unknown`` with confidence 0."""
    userid, confidence = "unknown", 0.0
    identity = face.decision.identity
    distances = decision_distances(face)
    if identity is not None and distances:
        value = score(distances[0], threshold=face.decision.threshold,
                      at_threshold=DEEPSTACK_AT_THRESHOLD)
        if value >= min_confidence:
            userid, confidence = identity.name, round(value, 6)
    return {"confidence": confidence, "userid": userid,
            **_box(face.face.detection.box, width, height)}


@router.post("")  # DeepStack's ``/v1/vision/face/`` is redirected here (307, as gin does)
async def detect(request: Request, facegate: FacegateDep, run: RunnerDep) -> dict[str, Any]:
    """Every face with its box and detection confidence (at least ``min_confidence``)."""
    started = time.perf_counter()
    form = await _form(request, facegate, "recognize")
    image = form.image()
    cut = form.number("min_confidence", DETECT_MIN_CONFIDENCE)
    recognition = facegate.recognition
    photo, faces, timings = await run(lambda: recognition.detect(image))
    metrics.note_timings(request, timings.stages)
    predictions = []
    for face in faces:
        confidence = detection_confidence(face.detection.score)
        if confidence >= cut:
            predictions.append({"confidence": confidence,
                                **_box(face.detection.box, photo.width, photo.height)})
    return _ok(started, predictions=predictions, count=len(predictions),
               message=f"Found {len(predictions)} face" + ("" if len(predictions) == 1 else "s"))


@router.post("/recognize")
async def recognize(request: Request, facegate: FacegateDep, run: RunnerDep) -> dict[str, Any]:
    """Every face named or ``unknown``; no face is an empty ``predictions`` (DeepStack's
    success; CodeProject.AI's ``count`` and ``message`` are there too)."""
    started = time.perf_counter()
    form = await _form(request, facegate, "recognize")
    image = form.image()
    cut = form.number("min_confidence", RECOGNIZE_MIN_CONFIDENCE)
    recognition = facegate.recognition
    result = await run(lambda: recognition.identify(image, top_k=1))
    if not result.faces:
        metrics.note_identify(request, {"faces": [], "timings_ms": result.timings.stages})
        return _ok(started, predictions=[], count=0, message="No face found in image")
    answer = views.identify(result)
    audit.note_identify(request, answer)
    metrics.note_identify(request, answer)
    await events.identified(request, answer, result)
    predictions = [recognized(face, result.image_width, result.image_height, cut)
                   for face in result.faces]
    known = any(p["userid"] != "unknown" for p in predictions)
    return _ok(started, predictions=predictions, count=len(predictions),
               message="A face was recognised" if known else "No known faces")


@router.post("/match")
async def match(request: Request, facegate: FacegateDep, run: RunnerDep) -> dict[str, Any]:
    """The largest face of two photos (any two file fields, usually ``image1``, ``image2``):
    their ``similarity`` on the same scale as recognize's confidence."""
    started = time.perf_counter()
    form = await _form(request, facegate, "recognize")
    if not form.files:
        raise DeepStackError(400, NO_IMAGE)
    if len(form.files) == 1:
        raise DeepStackError(400, "expected two image files, only one found")
    if len(form.files) > 2:
        raise DeepStackError(400, "only two images allowed")
    (_, first), (_, second) = form.files
    recognition = facegate.recognition
    try:
        result = await run(lambda: recognition.verify_images(first, second,
                                                             multiple_faces="largest"))
    except NoFaceError:
        raise DeepStackError(400, "no face found") from None
    answer = views.verify(result, mode="image")
    audit.note_verify(request, answer)
    metrics.note_verify(request, answer)
    await events.verified(request, answer)
    similarity = score(result.distance, threshold=result.threshold,
                       at_threshold=DEEPSTACK_AT_THRESHOLD)
    return _ok(started, similarity=round(similarity, 6))


def _userid(form: Form) -> str:
    userid = form.fields.get("userid", "").strip()
    if not userid:
        raise DeepStackError(400, NO_USERID)
    if len(userid) > 200:  # facegate's limit on a name
        raise DeepStackError(400, "userid is longer than 200 characters")
    return userid


@router.post("/register")
async def register(request: Request, facegate: FacegateDep, run: RunnerDep) -> dict[str, Any]:
    """Add the photos' faces (any number of file fields of any name) to ``userid``."""
    started = time.perf_counter()
    form = await _form(request, facegate, "enrol")
    if not form.files:
        raise DeepStackError(400, NO_IMAGE)
    userid = _userid(form)
    photos = [data for _, data in form.files]
    gallery = facegate.gallery
    done = await run(lambda: userids.register(gallery, userid, photos))
    audit.note(request, identity_ids=[done.identity_id], faces=len(done.samples))
    if done.created:
        await events.emit_one(request, "identity.created", identity_id=done.identity_id,
                              name=userid)
    for sample in done.samples:
        await events.emit_one(request, "face.enrolled", **events.enrolled_data(sample))
    return _ok(started, message=done.message)


@router.post("/list")
async def list_faces(request: Request, facegate: FacegateDep) -> dict[str, Any]:
    """The userids (identities with faces), each once."""
    started = time.perf_counter()
    await _form(request, facegate, "read")
    gallery = facegate.gallery
    names = await anyio.to_thread.run_sync(lambda: userids.userids(gallery))
    return _ok(started, faces=names)


@router.post("/delete")
async def delete(request: Request, facegate: FacegateDep) -> dict[str, Any]:
    """Delete the userid's identity (every one of that name) with its faces; success also when
    there is none."""
    started = time.perf_counter()
    form = await _form(request, facegate, "enrol")
    userid = _userid(form)
    gallery = facegate.gallery
    deleted = await anyio.to_thread.run_sync(lambda: userids.delete(gallery, userid))
    audit.note(request, identity_ids=[identity_id for identity_id, _ in deleted])
    for identity_id, faces in deleted:
        await events.emit_one(request, "identity.deleted", identity_id=identity_id,
                              faces_deleted=faces)
    return _ok(started)
