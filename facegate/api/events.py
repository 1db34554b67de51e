"""The API's side of events: the request's ``camera`` and one call per route that emits what the
route decided (next to its ``audit.note_*`` call). Each writes to the outbox through
``app.state.events`` (``events/emitter.Events``; None: events off, nothing happens) before the
route answers. Payloads carry ids, names, distances and boxes, never an image or a descriptor;
the face chip travels only as ``snapshot``, kept for sinks that asked for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Query, Request
from pydantic import Field

from facegate.api import audit
from facegate.domain import FaceSample, IdentifyResult
from facegate.events.emitter import Draft, Events
from facegate.services.faces import chip_jpeg
from facegate.storage.state import StoredJob

#: A camera (source) name: letters, digits and ``. _ : -``, 1 to 64 characters.
CAMERA_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
_CAMERA_DOC = ("where the photo comes from (1-64 letters, digits, '.', '_', ':', '-'); it "
               "appears in events and the audit log")
#: The request model field (form field or JSON key) …
CameraField = Annotated[str | None, Field(default=None, max_length=64, pattern=CAMERA_PATTERN,
                                          description=_CAMERA_DOC)]
#: … and the query parameter (the body's wins when both are given).
CameraQuery = Annotated[str | None, Query(max_length=64, pattern=CAMERA_PATTERN,
                                          description=_CAMERA_DOC)]


def note_camera(request: Request, *cameras: str | None) -> None:
    """Remember the request's camera (the first one given) for its events and audit row."""
    camera = next((c for c in cameras if c), None)
    request.state.camera = camera
    if camera is not None:
        audit.note(request, camera=camera)


def _outbox(request: Request) -> Events | None:
    events: Events | None = getattr(request.app.state, "events", None)
    return events


def _draft(request: Request, kind: str, data: dict[str, Any],
           snapshot: bytes | None = None) -> Draft:
    return Draft(kind, getattr(request.state, "camera", None),
                 getattr(request.state, "request_id", None), data, snapshot)


def emit(request: Request, kind: str, **data: Any) -> None:
    """One event, written now (for the synchronous routes, which run on a worker thread)."""
    events = _outbox(request)
    if events is not None:
        events.emit_all([_draft(request, kind, data)])


async def emit_async(request: Request, drafts: list[Draft]) -> None:
    events = _outbox(request)
    if events is not None and drafts:
        await anyio.to_thread.run_sync(events.emit_all, drafts)


def _nearest(face: dict[str, Any]) -> dict[str, Any] | None:
    best = face.get("identity") or (face.get("candidates") or [None])[0]
    return None if best is None else {"identity_id": best["identity_id"], "name": best["name"],
                                      "distance": best["distance"]}


def identify_drafts(request: Request, answer: dict[str, Any] | None,
                    result: IdentifyResult | None = None) -> list[Draft]:
    """``face.identified`` / ``face.unknown``, one per face of an identify answer."""
    faces = (answer or {}).get("faces", [])
    outbox = _outbox(request)
    want_chips = result is not None and outbox is not None and outbox.wants_snapshots
    drafts = []
    for index, face in enumerate(faces):
        nearest = _nearest(face)
        common = {"face_index": index, "faces": len(faces), "box": face["box"],
                  "threshold": face["threshold"]}
        if face["status"] == "identified" and nearest is not None:
            data = {**nearest, **common, "adjusted_distance": face.get("adjusted_distance")}
            kind = "face.identified"
        else:
            data = {**common, "nearest": nearest,
                    "distance": None if nearest is None else nearest["distance"]}
            kind = "face.unknown"
        chip = chip_jpeg(result.faces[index].face.chip) if want_chips and result else None
        drafts.append(_draft(request, kind, data, chip))
    return drafts


async def identified(request: Request, answer: dict[str, Any] | None,
                     result: IdentifyResult | None = None) -> None:
    if _outbox(request) is not None:
        await emit_async(request, identify_drafts(request, answer, result))


async def verified(request: Request, answer: dict[str, Any] | None) -> None:
    """``verify.decided``: the decision, distance, threshold, mode and identity if any."""
    if not answer or _outbox(request) is None:
        return
    identity = answer.get("identity") or {}
    await emit_async(request, [_draft(request, "verify.decided", {
        "match": bool(answer.get("match")), "distance": answer.get("distance"),
        "threshold": answer.get("threshold"), "mode": answer.get("mode"),
        "identity_id": identity.get("id"), "name": identity.get("name"),
        "box": (answer.get("faces") or [{}])[0].get("box")})])


async def liveness_decided(request: Request, report: dict[str, Any], *, check: str,
                           **extra: Any) -> None:
    """``liveness.decided``: live or not, the check and the reasons' codes."""
    if _outbox(request) is None:
        return
    await emit_async(request, [_draft(request, "liveness.decided", {
        "live": bool(report.get("live")), "check": check, "reasons": _codes(report), **extra})])


async def live_identified(request: Request, answer: dict[str, Any]) -> None:
    """Live identify: ``liveness.decided``, then each face's event when it was live."""
    if _outbox(request) is None:
        return
    report = answer.get("liveness") or {}
    drafts = [_draft(request, "liveness.decided", {
        "live": bool(answer.get("live")), "check": "blink", "reasons": _codes(report)})]
    await emit_async(request, drafts + identify_drafts(request, answer.get("identify")))


async def live_verified(request: Request, answer: dict[str, Any]) -> None:
    await liveness_decided(request, {**(answer.get("liveness") or {}),
                                     "live": answer.get("live")}, check="blink")
    await verified(request, answer.get("verify"))


def _codes(report: dict[str, Any]) -> list[str]:
    return [str(r.get("code")) for r in report.get("reasons", []) if isinstance(r, dict)]


async def emit_one(request: Request, kind: str, **data: Any) -> None:
    """One event from an async route (written on a worker thread, awaited)."""
    await emit_async(request, [_draft(request, kind, data)])


def enrolled_data(sample: FaceSample) -> dict[str, Any]:
    return {"identity_id": sample.identity_id, "face_id": sample.id,
            "box": sample.box.as_dict() if sample.box else None,
            "detection_score": sample.detection_score,
            "source": "image" if sample.chip_jpeg else "descriptor"}


def train_finished(events: Events) -> Callable[[StoredJob], None]:
    """The training jobs' finish hook: ``train.finished`` with the job's outcome."""
    def finished(job: StoredJob) -> None:
        events.emit("train.finished", camera=None, request_id=None, data={
            "job_id": job.id, "status": job.status, "kind": job.options.get("kind"),
            "model_id": (job.model or {}).get("id"),
            "error": (job.error or {}).get("code"), "photos": dict(job.photos)})
    return finished
