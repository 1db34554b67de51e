"""/v1/status and /v1/system (admin): what the server runs and how it is doing, for the
console's admin page; the models it loads with their files, checksums and licences."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request

from facegate import __version__
from facegate.api.deps import FacegateDep
from facegate.api.openapi import STORE, answers
from facegate.api.status_schemas import StatusOut, SystemOut
from facegate.bootstrap import model_report, system_report
from facegate.services.status import status
from facegate.storage.state import ACTIVE_JOB

router = APIRouter(prefix="/v1", tags=["config"])


@router.get("/status", response_model=StatusOut, responses=answers(*STORE))
async def server_status(request: Request, facegate: FacegateDep) -> dict[str, Any]:
    """Version, uptime, storage backend (no password), gallery counts, every model with its
    licence and whether it is in use, ONNX Runtime providers, this replica's workers and queue,
    its search index against the store, and the threshold with its source."""
    state = request.app.state
    body = await anyio.to_thread.run_sync(lambda: {
        **status(facegate.settings, facegate.gallery.indexed, started_at=state.started_at),
        **model_report(facegate)})
    jobs = await anyio.to_thread.run_sync(facegate.store.list_jobs, 5)
    active = next((job.id for job in jobs if job.status in ACTIVE_JOB), None)
    body["workers"] = {**state.runner.state(), "isolation": facegate.settings.server.isolation,
                       "active_job": active}
    return body


@router.get("/system", response_model=SystemOut, responses=answers())
async def system(facegate: FacegateDep) -> dict[str, Any]:
    """Every model weight the server loads (at start-up, before it is ready): role, file,
    SHA-256, licence (SPDX id), runtime (onnxruntime or dlib) and execution provider."""
    found = await anyio.to_thread.run_sync(system_report, facegate.settings)
    return {"version": __version__, "models": found}
