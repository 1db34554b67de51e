"""/v1/train (a background job: enrol a zip of labelled photos, fit and store a classifier)
and /v1/models (the trained classifiers: list, show, activate, deactivate, delete)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from facegate.api import views
from facegate.api.archive_form import multipart_form, validated
from facegate.api.deps import FacegateDep
from facegate.api.inputs import RequestModel, json_object
from facegate.api.openapi import BODY, STORE, answers, archive_body
from facegate.api.schemas import (
    ClassifierList,
    ClassifierOut,
    Deactivated,
    Deleted,
    TrainingJobList,
    TrainingJobOut,
)
from facegate.errors import (
    ArchiveError,
    ArchiveTooLargeError,
    ClassifierNotFoundError,
    ConflictError,
    JobNotFoundError,
    UnsupportedMediaTypeError,
)
from facegate.services.training_jobs import TrainingJobs, TrainRequest, Upload

router = APIRouter(prefix="/v1", tags=["classifiers"])
ONE = answers(ClassifierNotFoundError, *STORE)


def get_jobs(request: Request) -> TrainingJobs:
    jobs: TrainingJobs = request.app.state.training_jobs
    return jobs


JobsDep = Annotated[TrainingJobs, Depends(get_jobs)]


class TrainIn(RequestModel):
    """Options of a training job; in multipart form the zip is the ``archive`` file part."""

    kind: Literal["knn", "svm"] = "svm"
    tune: bool = False
    folds: int = Field(default=5, ge=2, le=20)
    activate: bool = False
    multiple_faces: Literal["reject", "largest"] | None = None


@router.post("/train", status_code=202, response_model=TrainingJobOut,
             openapi_extra=archive_body(TrainIn), responses=answers(
                 *BODY, ArchiveError, ArchiveTooLargeError, ConflictError))
async def start_training(request: Request, response: Response, jobs: JobsDep) -> dict[str, Any]:
    """Start a training job: enrol the zip's photos (if one is sent), then fit, cross-validate
    and store a classifier; 202 with the job, whose ``Location`` a client polls."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    archive: Upload | None = None
    if content_type == "multipart/form-data":
        options, archive = await multipart_form(request, TrainIn, jobs.receive, required=False,
                                                what="training options")
    elif content_type in ("application/json", ""):
        options = validated(TrainIn, await json_object(request, allow_empty=True),
                            "training options")
    else:
        raise UnsupportedMediaTypeError(
            f"send multipart/form-data (with an 'archive' zip) or application/json, "
            f"not {content_type!r}")
    job = jobs.start(TrainRequest(kind=options.kind, tune=options.tune, folds=options.folds,
                                  activate=options.activate,
                                  multiple_faces=options.multiple_faces), archive)
    response.headers["Location"] = f"/v1/train/{job.id}"
    return views.training_job(job)


@router.get("/train", response_model=TrainingJobList)
def list_jobs(jobs: JobsDep) -> dict[str, Any]:
    """The last training jobs of this gallery (started through any replica), newest first."""
    return {"items": [views.training_job(job) for job in jobs.list()]}


@router.get("/train/{job_id}", response_model=TrainingJobOut,
            responses=answers(JobNotFoundError))
def get_job(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    """A training job: status, stage and progress, photo counts, refusals, the classifier."""
    return views.training_job(jobs.get(job_id))


@router.delete("/train/{job_id}", status_code=202, response_model=TrainingJobOut,
               responses=answers(JobNotFoundError, ConflictError))
def cancel_job(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    """Cancel a queued or running job: 202 with it ``cancelling``; it stops at the next photo
    or validation step (``cancelled``), keeps what it enrolled and stores no classifier.
    409 CONFLICT when the job has already finished."""
    return views.training_job(jobs.cancel(job_id))


@router.get("/models", response_model=ClassifierList, responses=answers(*STORE))
def list_models(facegate: FacegateDep) -> dict[str, Any]:
    """Every trained classifier, newest first, with its validation metrics."""
    return {"items": [views.classifier(c) for c in facegate.classifiers.list()],
            "used_by_identify": facegate.settings.matching.classifier == "active"}


@router.get("/models/{model_id}", response_model=ClassifierOut, responses=ONE)
def get_model(model_id: str, facegate: FacegateDep) -> dict[str, Any]:
    return views.classifier(facegate.classifiers.get(model_id))


@router.post("/models/{model_id}/activate", response_model=ClassifierOut, responses=ONE)
def activate_model(model_id: str, facegate: FacegateDep) -> dict[str, Any]:
    """Identify ranks identities with this classifier from now on (every replica)."""
    info = facegate.classifiers.activate(model_id)
    assert info is not None
    return views.classifier(info)


@router.post("/models/deactivate", response_model=Deactivated,
             responses=answers(*STORE))
def deactivate_models(facegate: FacegateDep) -> dict[str, Any]:
    """No classifier: identify ranks by the nearest sample."""
    facegate.classifiers.activate(None)
    return {"active": None}


@router.delete("/models/{model_id}", response_model=Deleted, responses=ONE)
def delete_model(model_id: str, facegate: FacegateDep) -> dict[str, Any]:
    facegate.classifiers.delete(model_id)
    return {"deleted": model_id}
