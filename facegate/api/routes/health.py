"""Liveness and readiness probes (no API key needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from facegate import __version__
from facegate.api.deps import FacegateDep
from facegate.api.schemas import Healthy, NotReady, Ready
from facegate.errors import FacegateError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Healthy)
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Ready, responses={
    503: {"model": NotReady, "description": "the gallery cannot be read"}})
def readyz(facegate: FacegateDep) -> dict[str, Any] | JSONResponse:
    """Models loaded and the gallery reachable."""
    try:
        identities, faces = facegate.store.counts()
    except FacegateError as exc:
        return JSONResponse({"status": "not ready", "reason": exc.code}, status_code=503)
    return {"status": "ready", "version": __version__, "identities": identities, "faces": faces}
