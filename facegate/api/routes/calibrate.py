"""/v1/calibrate (scope ``admin``): the distance threshold for a target false-match rate,
measured on an uploaded zip of per-person folders as a background job, its plots, and
applying it to this server (``services/calibrations.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from pydantic import Field

from facegate.api.archive_form import archive_form
from facegate.api.calibrate_schemas import AppliedThreshold, CalibrationJobOut
from facegate.api.inputs import RequestModel
from facegate.api.openapi import BODY, STORE, answers, zip_body
from facegate.errors import (
    ArchiveError,
    ArchiveTooLargeError,
    ConflictError,
    JobNotFoundError,
    ValidationError,
)
from facegate.services.calibrations import Calibrations
from facegate.storage.state import StoredJob

router = APIRouter(prefix="/v1/calibrate", tags=["calibrate"])
PlotName = Literal["roc", "det", "histogram"]


def get_calibrations(request: Request) -> Calibrations:
    calibrations: Calibrations = request.app.state.calibrations
    return calibrations


CalibrationsDep = Annotated[Calibrations, Depends(get_calibrations)]


class CalibrateIn(RequestModel):
    """Options of a calibration; the zip (one folder of photos per person) is ``archive``."""

    target_fmr: float = Field(default=0.001, gt=0.0, lt=1.0)


def _time(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


def calibration_view(job: StoredJob) -> dict[str, Any]:
    result = None
    if job.status == "finished" and job.model is not None:
        result = {**job.model, "plots": [f"/v1/calibrate/{job.id}/plots/{name}.png"
                                         for name in ("roc", "det", "histogram")]}
    return {"id": job.id, "status": job.status, "done": job.done, "total": job.total,
            "target_fmr": job.options["target_fmr"], "result": result, "error": job.error,
            "created_at": _time(job.created_at), "finished_at": _time(job.finished_at)}


@router.post("", status_code=202, response_model=CalibrationJobOut,
             openapi_extra=zip_body(CalibrateIn),
             responses=answers(*BODY, ArchiveError, ArchiveTooLargeError, ConflictError,
                               *STORE))
async def start_calibration(request: Request, response: Response,
                            calibrations: CalibrationsDep) -> dict[str, Any]:
    """Start calibrating on the zip: 202 with the job, whose ``Location`` a client polls. One
    background job (calibration, import or training) runs per gallery: 409 CONFLICT meanwhile."""
    options, upload = await archive_form(request, CalibrateIn, calibrations.receive)
    job = calibrations.start(options.target_fmr, upload)
    response.headers["Location"] = f"/v1/calibrate/{job.id}"
    return calibration_view(job)


@router.get("/{job_id}", response_model=CalibrationJobOut,
            responses=answers(JobNotFoundError, *STORE))
def get_calibration(job_id: str, calibrations: CalibrationsDep) -> dict[str, Any]:
    """Progress, then the recommended threshold, its rates and what the current one gives."""
    return calibration_view(calibrations.jobs.get(job_id))


@router.get("/{job_id}/plots/{name}.png", response_class=FileResponse, responses={
    **answers(JobNotFoundError, ConflictError, ValidationError, *STORE),
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
          "description": "the plot, the recommended threshold marked"}})
def calibration_plot(job_id: str, name: PlotName, calibrations: CalibrationsDep) -> FileResponse:
    """ROC, DET or the genuine/impostor distance histogram of a finished calibration."""
    return FileResponse(calibrations.plot(job_id, name), media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})


@router.post("/{job_id}/apply", response_model=AppliedThreshold,
             responses=answers(JobNotFoundError, ConflictError, *STORE))
def apply_calibration(job_id: str, calibrations: CalibrationsDep) -> dict[str, Any]:
    """Store the threshold in ``<data_dir>/calibration.json`` (as ``facegate calibrate
    --apply``) and use it on this server at once; other replicas use it at their next start."""
    return calibrations.apply(job_id)
