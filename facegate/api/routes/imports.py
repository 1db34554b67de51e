"""/v1/imports (scope ``enrol``): bulk import of a zip of labelled photos as a background job,
its progress, its per-file report (JSON, CSV), and cancel."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response

from facegate.api.archive_form import archive_form
from facegate.api.inputs import RequestModel
from facegate.api.job_schemas import ImportJobList, ImportJobOut
from facegate.api.openapi import BODY, STORE, answers, zip_body
from facegate.errors import ArchiveError, ArchiveTooLargeError, ConflictError, JobNotFoundError
from facegate.services.imports import ImportOptions, Imports
from facegate.storage.state import ACTIVE_JOB, StoredJob

router = APIRouter(prefix="/v1/imports", tags=["imports"])
ONE = answers(JobNotFoundError, *STORE)
CSV_COLUMNS = ("file", "person", "outcome", "message", "identity_id", "face_id")


def get_imports(request: Request) -> Imports:
    imports: Imports = request.app.state.imports
    return imports


ImportsDep = Annotated[Imports, Depends(get_imports)]


class ImportIn(RequestModel):
    """Options of a bulk import; the zip is the ``archive`` file part."""

    create_missing: bool = True
    multiple_faces: Literal["reject", "largest"] = "reject"


def _time(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


def import_view(job: StoredJob) -> dict[str, Any]:
    counts = {"total": 0, "enrolled": 0, "refused": 0, "duplicate": 0, **job.photos}
    return {"id": job.id, "status": job.status, "done": job.done, "total": job.total,
            "options": {k: job.options[k] for k in ("create_missing", "multiple_faces")},
            "counts": counts, "error": job.error, "created_at": _time(job.created_at),
            "report": None if job.status in ACTIVE_JOB else list(job.refusals),
            "finished_at": _time(job.finished_at)}


@router.post("", status_code=202, response_model=ImportJobOut, openapi_extra=zip_body(ImportIn),
             responses=answers(*BODY, ArchiveError, ArchiveTooLargeError, ConflictError,
                               *STORE))
async def start_import(request: Request, response: Response,
                       imports: ImportsDep) -> dict[str, Any]:
    """Start importing the zip: 202 with the job, whose ``Location`` a client polls. One
    background job (import or training) runs per gallery at a time: 409 CONFLICT meanwhile."""
    options, upload = await archive_form(request, ImportIn, imports.receive)
    job = imports.start(ImportOptions(create_missing=options.create_missing,
                                      multiple_faces=options.multiple_faces), upload)
    response.headers["Location"] = f"/v1/imports/{job.id}"
    return import_view(job)


@router.get("", response_model=ImportJobList, responses=answers(*STORE))
def list_imports(imports: ImportsDep) -> dict[str, Any]:
    """The recent imports of this gallery (started through any replica), newest first."""
    return {"items": [import_view(job) for job in imports.jobs.list()]}


@router.get("/{job_id}", response_model=ImportJobOut, responses=ONE)
def get_import(job_id: str, imports: ImportsDep) -> dict[str, Any]:
    """Progress (``done`` of ``total`` files), and once ended the report of every file."""
    return import_view(imports.jobs.get(job_id))


@router.get("/{job_id}/report.csv", response_class=Response, responses={
    **ONE, 200: {"content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
                 "description": "the report, one row per file"}})
def import_report(job_id: str, imports: ImportsDep) -> Response:
    """The report as CSV (file, person, outcome, message, identity_id, face_id); only the
    header while the job is still running."""
    job = imports.jobs.get(job_id)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in [] if job.status in ACTIVE_JOB else job.refusals:
        writer.writerow(row)
    return Response(out.getvalue(), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="import-{job_id}.csv"'})


@router.delete("/{job_id}", status_code=202, response_model=ImportJobOut, responses=answers(
    JobNotFoundError, ConflictError, *STORE))
def cancel_import(job_id: str, imports: ImportsDep) -> dict[str, Any]:
    """Cancel: it stops at the next photo (``cancelled``), keeps what it enrolled and reports
    the files it got to; 409 CONFLICT once the job has ended."""
    return import_view(imports.jobs.cancel(job_id))
