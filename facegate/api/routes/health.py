"""Liveness and readiness probes (no API key needed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from facegate import __version__
from facegate.api.deps import FacegateDep
from facegate.api.schemas import Healthy, NotReady, Ready
from facegate.errors import FacegateError
from facegate.events.emitter import Events

router = APIRouter(tags=["health"])


def _outbox(request: Request) -> Events | None:
    events: Events | None = getattr(request.app.state, "events", None)
    return events


OutboxDep = Annotated[Events | None, Depends(_outbox)]


@router.get("/healthz", response_model=Healthy)
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Ready, responses={
    503: {"model": NotReady, "description": "the gallery cannot be read"}})
def readyz(facegate: FacegateDep, outbox: OutboxDep = None) -> dict[str, Any] | JSONResponse:
    """Models loaded and the gallery reachable; ``events``: the event sinks, the outbox's
    backlog and any sink that is not working (a broken sink never makes the server unready)."""
    try:
        identities, faces = facegate.store.counts()
    except FacegateError as exc:
        return JSONResponse({"status": "not ready", "reason": exc.code}, status_code=503)
    return {"status": "ready", "version": __version__, "identities": identities, "faces": faces,
            "events": _events(outbox)}


def _events(outbox: Events | None) -> dict[str, Any] | None:
    if outbox is None:
        return None
    try:
        backlog: int | None = outbox.backlog()
    except FacegateError:
        backlog = None
    return {"sinks": [s.name for s in outbox.sinks], "backlog": backlog,
            "problems": outbox.problems()}
