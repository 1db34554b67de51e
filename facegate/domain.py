"""Plain domain types shared by every layer. Imports nothing from facegate.

Conventions: boxes are pixel coordinates in the *original* (EXIF-rotated) image, ``right`` and
``bottom`` exclusive. A ``distance`` is the Euclidean distance between two descriptors: lower is
closer, 0 is identical. Descriptors are float32 arrays of shape ``(DESCRIPTOR_SIZE,)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

DESCRIPTOR_SIZE = 128
#: Name of the model that produced a descriptor; stored with each sample so a later model can
#: tell which samples it must re-embed from their chips.
DESCRIPTOR_MODEL = "dlib_resnet_v1"

Descriptor = NDArray[np.float32]
RGBImage = NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def as_dict(self) -> dict[str, int]:
        return {
            "left": self.left,
            "top": self.top,
            "right": self.right,
            "bottom": self.bottom,
            "width": self.width,
            "height": self.height,
        }


@dataclass(frozen=True, slots=True)
class DetectedFace:
    """A face found by a detector: where it is and how sure the detector was."""

    box: Box
    #: Detector confidence (dlib HOG: SVM margin, higher is surer; about 0 at the decision edge;
    #: the CNN fallback's confidence for a small crop only it found).
    score: float
    #: Five landmarks in image pixels: right eye outer/inner, left eye outer/inner, nose base.
    landmarks: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class FaceQuality:
    """Cheap image-quality signals for one face (no learned model)."""

    #: Face box size in pixels (the shorter side).
    size_px: int
    #: Variance of the Laplacian of the grey chip: low means blurred.
    sharpness: float
    #: Mean grey level of the chip, 0-255.
    brightness: float


@dataclass(frozen=True, slots=True)
class Face:
    """A detected face with its aligned chip and descriptor."""

    detection: DetectedFace
    chip: RGBImage
    descriptor: Descriptor
    quality: FaceQuality


@dataclass(frozen=True, slots=True)
class Identity:
    id: str
    name: str
    external_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    face_count: int = 0
    #: The person's consent to the processing, if recorded (docs/governance.md).
    consent: Consent | None = None
    #: When the retention job erases this identity (None: never).
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    """A record of consent: when it was given, for what, and where the proof is kept (a form
    number, a document id): facegate stores the record, never the document."""

    given_at: datetime
    purpose: str
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class FaceSample:
    """One enrolled face of an identity."""

    id: str
    identity_id: str
    descriptor: Descriptor
    #: The aligned face chip as JPEG bytes (shown by the UI; re-embeddable by a later model).
    chip_jpeg: bytes
    #: SHA-256 (hex) of the uploaded image bytes, or of the descriptor for descriptor-only samples.
    image_sha256: str
    detection_score: float | None
    created_at: datetime
    model: str = DESCRIPTOR_MODEL
    box: Box | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """An identity and its distance to a probe (its closest sample)."""

    identity_id: str
    name: str
    distance: float
    face_id: str
    #: The active classifier's score for this identity, when a classifier ranked the candidates.
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """Open-set decision for one probe face."""

    #: The best candidate when its distance is at most the threshold, else None (``unknown``).
    identity: Candidate | None
    threshold: float
    #: What was held against the threshold when not the best plain distance: the
    #: cohort-adjusted distance (``matching.CohortRule``), None under the plain rule.
    adjusted_distance: float | None = None
    #: The identity refused because the probe lies nearer its negative anchors than its own
    #: samples (``facegate/negatives.py``); the decision is then ``unknown``.
    refused_identity: str | None = None

    @property
    def known(self) -> bool:
        return self.identity is not None


@dataclass(frozen=True, slots=True)
class FaceIdentification:
    face: Face
    candidates: list[Candidate]
    decision: Decision


@dataclass(slots=True)
class Timings:
    """Milliseconds spent per stage of a request."""

    stages: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, ms: float) -> None:
        self.stages[stage] = round(self.stages.get(stage, 0.0) + ms, 3)


@dataclass(frozen=True, slots=True)
class SearchMethod:
    """How a 1:N search ran: ``exact`` (every sample compared, in memory) or ``hnsw`` (the
    store's approximate index with ``ef_search`` candidates)."""

    name: str
    ef_search: int | None = None


@dataclass(frozen=True, slots=True)
class IdentifyResult:
    faces: list[FaceIdentification]
    image_width: int
    image_height: int
    timings: Timings
    search: SearchMethod = SearchMethod("exact")
    #: The classifier that ranked the candidates, or None for the nearest sample.
    classifier: ClassifierInfo | None = None


@dataclass(frozen=True, slots=True)
class ClassifierInfo:
    """A trained identification classifier as stored (its fitted arrays are a separate blob):
    ``kind`` ``knn`` or ``svm``, its hyper-parameters, its cross-validated metrics, and the
    gallery's size when it was fitted (a classifier knows only the identities it was fitted on)."""

    id: str
    kind: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    created_at: datetime
    identities: int
    samples: int
    active: bool = False


@dataclass(frozen=True, slots=True)
class VerifyResult:
    match: bool
    distance: float
    threshold: float
    #: The probe faces used (one or two, by mode); a stored descriptor has no face.
    faces: list[Face]
    timings: Timings
    identity: Identity | None = None
