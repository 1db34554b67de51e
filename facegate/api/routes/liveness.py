"""/v1/liveness: the blink check and challenge-response sessions (see docs/liveness.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from facegate.api import events, metrics
from facegate.api.deps import FacegateDep, RunnerDep
from facegate.api.inputs import RequestModel
from facegate.api.liveness_schemas import SequenceOut, SessionOut, SessionResultOut
from facegate.api.openapi import BODY, BUSY, SEQUENCE, STORE, answers, sequence_body
from facegate.api.sequence_inputs import read_sequence
from facegate.errors import (
    LivenessError,
    SessionExpiredError,
    SessionNotFoundError,
    SessionUsedError,
)
from facegate.services import liveness_report
from facegate.services.liveness import LivenessService
from facegate.services.liveness_sessions import SessionBook

router = APIRouter(prefix="/v1/liveness", tags=["liveness"])


class SequenceIn(RequestModel):
    """``frames`` (images, in order) or one ``video``; ``fps`` of the frames (default 30)."""

    fps: float | None = Field(default=None, gt=0.0, le=240.0)
    camera: events.CameraField


class SessionFramesIn(SequenceIn):
    nonce: str = Field(min_length=1, max_length=200)


def _liveness(request: Request) -> LivenessService:
    service: LivenessService = request.app.state.liveness
    return service


def _sessions(request: Request) -> SessionBook:
    book: SessionBook = request.app.state.liveness_sessions
    return book


@router.post("/blink", response_model=SequenceOut, openapi_extra=sequence_body(SequenceIn),
             responses=answers(*BODY, *SEQUENCE, *BUSY, *STORE))
async def blink(request: Request, facegate: FacegateDep, run: RunnerDep,
                camera: events.CameraQuery = None) -> dict[str, Any]:
    """Live when one face, the same person throughout, blinks fully (both eyes close and open
    within 0.5 s). Returns the blink and wink events with 0-based frame indices, per-frame eye
    openness, and the reasons when not live (codes in docs/liveness.md)."""
    body, frames, video = await read_sequence(request, SequenceIn, facegate.settings)
    events.note_camera(request, body.camera, camera)
    service = _liveness(request)

    def work() -> dict[str, Any]:
        read = service.read(frames, video, body.fps)
        return liveness_report.sequence(service.blink(read.rgb, fps=read.fps,
                                                      sampling=read.sampling))

    answer = await run(work)
    metrics.note_liveness(request, answer)
    await events.liveness_decided(request, answer, check="blink")
    return answer


@router.post("/sessions", status_code=201, response_model=SessionOut)
async def create_session(request: Request) -> dict[str, Any]:
    """A new session: its id, a nonce to send back with the frames, the actions to perform in
    order (drawn at random from blink, turn_left, turn_right, smile) and when it expires."""
    return liveness_report.session(_sessions(request).create())


@router.post("/sessions/{session_id}/frames", response_model=SessionResultOut,
             openapi_extra=sequence_body(SessionFramesIn), responses=answers(
                 *BODY, *SEQUENCE, SessionNotFoundError, SessionExpiredError, SessionUsedError,
                 LivenessError, *BUSY, *STORE))
async def session_frames(session_id: str, request: Request, facegate: FacegateDep,
                         run: RunnerDep, camera: events.CameraQuery = None) -> dict[str, Any]:
    """The frames of the person performing the session's actions (once per session). Live when
    every action was seen in order, by one face, the same person, in frames never sent before;
    ``best`` holds the best frame's descriptor for a following verify or identify."""
    body, frames, video = await read_sequence(request, SessionFramesIn, facegate.settings)
    events.note_camera(request, body.camera, camera)
    book, service = _sessions(request), _liveness(request)
    session = book.claim(session_id, body.nonce)

    def work() -> dict[str, Any]:
        read = service.read(frames, video, body.fps)
        return liveness_report.session_result(book.check(session, read.rgb, fps=read.fps,
                                                         sampling=read.sampling))

    answer = await run(work)
    metrics.note_liveness(request, answer)
    await events.liveness_decided(request, answer, check="session", session_id=session_id)
    return answer
