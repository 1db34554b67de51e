"""Response models: what every route answers, as declared in the OpenAPI document.

Routes keep returning the dicts of ``api.views``; FastAPI validates them against these models
(``response_model=``) and serializes only the declared fields, so each model must carry every
field its view emits (``tests/api/test_openapi.py`` checks that on real results). Free-form
members (identity ``metadata``, classifier ``params`` and ``metrics``, ``timings_ms``) stay
open objects; every other object is declared field by field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from facegate.api.governance_schemas import ConsentOut, Receipt
from facegate.config import (
    AlignmentSettings,
    AugmentationSettings,
    DetectionSettings,
    MatchingSettings,
)
from facegate.domain import DESCRIPTOR_SIZE
from facegate.services.gallery import DESCRIPTOR_VALUE_LIMIT

#: A client-sent descriptor, as ``services.gallery.parse_descriptor`` accepts it.
DescriptorIn = Annotated[
    list[Annotated[float, Field(ge=-DESCRIPTOR_VALUE_LIMIT, le=DESCRIPTOR_VALUE_LIMIT)]],
    Field(min_length=DESCRIPTOR_SIZE, max_length=DESCRIPTOR_SIZE,
          description=f"{DESCRIPTOR_SIZE} numbers (from /v1/embed)")]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Timings = Annotated[dict[str, float], Field(description="milliseconds per stage")]


class ErrorInfo(BaseModel):
    """``code`` is stable (docs/api.md lists them); ``message`` is for humans."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(examples=["VALIDATION_ERROR"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict,
                                    description="present only when there is something to add")


class ErrorResponse(BaseModel):
    """Every error answer of facegate: ``{"error": {"code", "message", "details"?}}``."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorInfo


class Box(BaseModel):
    """Pixel coordinates in the upright photo; ``right`` and ``bottom`` are exclusive."""

    left: int
    top: int
    right: int
    bottom: int
    width: int
    height: int


class Point(BaseModel):
    x: float
    y: float


class Quality(BaseModel):
    size_px: int
    sharpness: float
    brightness: float


class FaceOut(BaseModel):
    """A face found in a photo."""

    box: Box
    detection_score: float
    landmarks: list[Point]
    quality: Quality


class EmbeddedFace(FaceOut):
    descriptor: list[float] = Field(min_length=DESCRIPTOR_SIZE, max_length=DESCRIPTOR_SIZE)


class ImageSize(BaseModel):
    width: int
    height: int


class IdentityOut(BaseModel):
    id: str
    name: str
    external_id: str | None
    metadata: dict[str, Any]
    face_count: int
    created_at: Timestamp
    updated_at: Timestamp
    consent: ConsentOut | None = None
    expires_at: Timestamp | None = None


class IdentityPage(BaseModel):
    items: list[IdentityOut]
    total: int
    limit: int
    offset: int


class IdentityDeleted(BaseModel):
    deleted: str
    faces_deleted: int
    receipt: Receipt


class Deleted(BaseModel):
    deleted: str


class SampleOut(BaseModel):
    """An enrolled face sample (never its descriptor)."""

    id: str
    identity_id: str
    model: str
    image_sha256: str
    detection_score: float | None
    box: Box | None
    created_at: Timestamp
    chip_url: str | None


class SampleList(BaseModel):
    items: list[SampleOut]


class EnrolWarning(BaseModel):
    """An enrolment that went through but looks like a mix-up."""

    code: Literal["CLOSER_TO_ANOTHER_PERSON"]
    identity_id: str
    name: str
    distance: float
    message: str


class EnrolledFace(BaseModel):
    """``detection`` (the face that was used) and ``warnings`` only when enrolled from a
    photo."""

    face: SampleOut
    detection: FaceOut | None = None
    warnings: list[EnrolWarning] | None = None


class Candidate(BaseModel):
    identity_id: str
    name: str
    distance: float
    face_id: str | None
    score: float | None = Field(default=None, description="only when a classifier ranked")


class IdentifiedFace(FaceOut):
    status: Literal["identified", "unknown"]
    identity: Candidate | None
    candidates: list[Candidate]
    threshold: float
    adjusted_distance: float | None
    refused_identity_id: str | None = Field(
        default=None, description="named by the threshold, refused by its negative anchors "
        "(wrong feedback): the face is unknown")


class SearchInfo(BaseModel):
    method: Literal["exact", "hnsw"]
    ef_search: int | None


class ClassifierRef(BaseModel):
    id: str
    kind: str


class IdentifyOut(BaseModel):
    request_id: str | None = Field(default=None, description="for POST /v1/feedback")
    image: ImageSize
    faces: list[IdentifiedFace]
    search: SearchInfo
    classifier: ClassifierRef | None
    timings_ms: Timings


class VerifyOut(BaseModel):
    request_id: str | None = Field(default=None, description="for POST /v1/feedback")
    match: bool
    distance: float
    threshold: float
    mode: Literal["image", "identity", "descriptor"]
    faces: list[FaceOut]
    identity: IdentityOut | None
    timings_ms: Timings


class DetectOut(BaseModel):
    image: ImageSize
    faces: list[FaceOut]
    timings_ms: Timings


class EmbedOut(BaseModel):
    image: ImageSize
    model: str
    metric: Literal["euclidean"]
    faces: list[EmbeddedFace]
    timings_ms: Timings


class MatchingOut(MatchingSettings):
    threshold_source: Literal["default", "environment", "calibration"]


class ConfigOut(BaseModel):
    model: str
    metric: Literal["euclidean"]
    matching: MatchingOut
    detection: DetectionSettings
    alignment: AlignmentSettings
    augmentation: AugmentationSettings
    active_classifier: ClassifierRef | None


class ClassifierOut(BaseModel):
    id: str
    kind: Literal["knn", "svm"]
    params: dict[str, Any]
    metrics: dict[str, Any]
    identities: int
    samples: int
    active: bool
    changed_since_fit: bool = Field(description="people or faces were erased from it after "
                                    "its fit (metrics still describe the fit)")
    created_at: Timestamp


class ClassifierList(BaseModel):
    items: list[ClassifierOut]
    used_by_identify: bool


class Deactivated(BaseModel):
    active: None


class Progress(BaseModel):
    done: int
    total: int


class TrainOptions(BaseModel):
    kind: Literal["knn", "svm"]
    tune: bool
    folds: int
    activate: bool


class PhotoCounts(BaseModel):
    total: int
    enrolled: int
    refused: int
    duplicate: int


class Refusal(BaseModel):
    """A photo of the zip that was not enrolled, and why (an error code)."""

    source: str
    person: str
    code: str
    message: str


class JobError(BaseModel):
    code: str
    message: str


class TrainingJobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "cancelling", "succeeded", "failed", "cancelled"]
    stage: Literal["queued", "enrolling", "validating", "done"]
    progress: Progress
    options: TrainOptions
    photos: PhotoCounts
    refusals: list[Refusal]
    model: ClassifierOut | None
    error: JobError | None
    created_at: Timestamp
    finished_at: Timestamp | None


class TrainingJobList(BaseModel):
    items: list[TrainingJobOut]


class Healthy(BaseModel):
    status: Literal["ok"]


class EventsHealth(BaseModel):
    """The event sinks (``webhook:1``, ``mqtt``), events not yet delivered to all of them
    (null: the store did not say) and what is wrong with a sink now, by name."""

    sinks: list[str]
    backlog: int | None
    problems: dict[str, str]


class Ready(BaseModel):
    status: Literal["ready"]
    version: str
    identities: int
    faces: int
    events: EventsHealth | None = None


class NotReady(BaseModel):
    """``/readyz`` when the gallery cannot be read (not the error envelope: probes read it)."""

    status: Literal["not ready"]
    reason: str
