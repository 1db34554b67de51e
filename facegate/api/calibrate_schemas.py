"""Response models of ``/v1/calibrate`` (threshold calibration jobs)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from facegate.api.job_schemas import JobStatus
from facegate.api.schemas import JobError, Timestamp


class CalibrationResult(BaseModel):
    """The recommended threshold measured on the zip's pairs (95% Clopper-Pearson intervals),
    and what the threshold in use now gives on the same pairs."""

    threshold: float
    target_fmr: float
    fmr: float
    fmr_interval: tuple[float, float]
    fnmr: float
    fnmr_interval: tuple[float, float]
    genuine_pairs: int
    impostor_pairs: int
    pairs_without_face: int = Field(description="left out of the rates: a photo had no face")
    warning: str | None = Field(description="set when too few impostor pairs support the "
                                "target FMR")
    current_threshold: float
    current_source: str
    current_fmr: float
    current_fnmr: float
    plots: list[str] = Field(description="URLs of the PNG plots (ROC, DET, histogram)")


class CalibrationJobOut(BaseModel):
    """A calibration; ``done`` of ``total`` descriptors (two per photo), then ``result``."""

    id: str
    status: JobStatus
    done: int
    total: int
    target_fmr: float
    result: CalibrationResult | None
    error: JobError | None
    created_at: Timestamp
    finished_at: Timestamp | None


class AppliedThreshold(BaseModel):
    """The threshold this server uses from now on (other replicas: at their next start)."""

    threshold: float
    threshold_source: str
    previous_threshold: float
    previous_source: str
