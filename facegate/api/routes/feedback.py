"""/v1/feedback and /v1/identities/{id}/negatives: operator verdicts and their effects.

Identify and verify keep their faces' probe descriptors (``keep_identify``/``keep_verify``,
called by those routes) for ``feedback.keep_minutes``; a verdict refers to one by the answer's
``request_id`` and the face's index (services/feedback.py).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request

from facegate.api import audit, events, views
from facegate.api.feedback_schemas import (
    FeedbackIn,
    FeedbackOut,
    FeedbackUndone,
    NegativeAnchorList,
)
from facegate.api.openapi import STORE, answers
from facegate.api.schemas import Deleted
from facegate.domain import IdentifyResult, VerifyResult
from facegate.errors import (
    AnchorNotFoundError,
    ConflictError,
    DuplicateFaceError,
    IdentityNotFoundError,
    RequestNotFoundError,
    ValidationError,
)
from facegate.services.feedback import FeedbackService, Outcome

router = APIRouter(prefix="/v1", tags=["feedback"])


def _service(request: Request) -> FeedbackService:
    service: FeedbackService = request.app.state.feedback
    return service


async def keep_identify(request: Request, answer: dict[str, Any], result: IdentifyResult) -> None:
    """Put the request id in identify's answer and keep its faces' probes (handed to the
    background writer: no store write on the request's path)."""
    answer["request_id"] = request_id = request.state.request_id
    _service(request).keep_identify(request_id, result)


async def keep_verify(request: Request, answer: dict[str, Any], result: VerifyResult) -> None:
    """The same for verify (its probe face)."""
    answer["request_id"] = request_id = request.state.request_id
    _service(request).keep_verify(request_id, result)


def _out(outcome: Outcome) -> dict[str, Any]:
    return {"request_id": outcome.request_id, "face_index": outcome.face_index,
            "verdict": outcome.verdict, "identity_id": outcome.identity_id,
            "effect": outcome.effect, "anchor_id": outcome.anchor_id,
            "face_id": outcome.face_id, "repeated": outcome.repeated}


@router.post("/feedback", response_model=FeedbackOut, responses=answers(
    ValidationError, RequestNotFoundError, ConflictError, DuplicateFaceError, *STORE))
async def give_feedback(body: FeedbackIn, request: Request) -> dict[str, Any]:
    """A verdict on one face of a recent identify/verify answer: ``correct``, ``wrong``
    (stores a negative anchor of the identity it was named as) or ``is`` + ``identity_id``
    (enrols the face to that person). The same verdict again is a repeat; another verdict on
    the same face is 409 until the first is undone."""
    service = _service(request)
    outcome = await anyio.to_thread.run_sync(lambda: service.give(
        body.request_id, body.face_index, body.verdict, body.identity_id))
    audit.note(request, identity_ids=[outcome.identity_id], verdict=outcome.verdict,
               effect=outcome.effect, feedback_for=outcome.request_id,
               face_index=outcome.face_index, anchor_id=outcome.anchor_id,
               face_id=outcome.face_id, repeated=outcome.repeated)
    if outcome.effect == "enrolled" and outcome.face_id and not outcome.repeated:
        await events.emit_one(request, "face.enrolled", identity_id=outcome.identity_id,
                              face_id=outcome.face_id, box=None, detection_score=None,
                              source="descriptor")
    return _out(outcome)


@router.delete("/feedback/{request_id}/{face_index}", response_model=FeedbackUndone,
               responses=answers(ValidationError, RequestNotFoundError, *STORE))
async def undo_feedback(request_id: str, face_index: int, request: Request) -> dict[str, Any]:
    """Take back a face's verdict and its effect (the anchor or the enrolled face)."""
    service = _service(request)
    outcome = await anyio.to_thread.run_sync(lambda: service.undo(request_id, face_index))
    if outcome is not None:
        audit.note(request, identity_ids=[outcome.identity_id], undone=outcome.verdict,
                   effect=outcome.effect, feedback_for=request_id, face_index=face_index,
                   anchor_id=outcome.anchor_id, face_id=outcome.face_id)
    return {"undone": None if outcome is None else _out(outcome)}


@router.get("/identities/{identity_id}/negatives", response_model=NegativeAnchorList,
            responses=answers(IdentityNotFoundError, *STORE))
def list_negatives(identity_id: str, request: Request) -> dict[str, Any]:
    """The identity's negative anchors (from ``wrong`` feedback; never their descriptors)."""
    return {"items": [views.negative_anchor(a) for a in _service(request).anchors(identity_id)]}


@router.delete("/identities/{identity_id}/negatives/{anchor_id}", response_model=Deleted,
               responses=answers(IdentityNotFoundError, AnchorNotFoundError, *STORE))
def delete_negative(identity_id: str, anchor_id: str, request: Request) -> dict[str, Any]:
    """Delete one negative anchor: the identity is no longer refused near it."""
    _service(request).delete_anchor(identity_id, anchor_id)
    audit.note(request, identity_ids=[identity_id], anchor_id=anchor_id)
    return {"deleted": anchor_id}
