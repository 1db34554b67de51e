"""Feedback settings (``settings.feedback``): kept probes and the negative-anchor rule."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class FeedbackSettings(BaseModel):
    #: Keep each identify/verify face's probe descriptor (never the image) in the store for
    #: ``POST /v1/feedback``: ``store`` (every replica sees it), ``off`` (no feedback).
    keep_probes: Literal["store", "off"] = "store"
    #: Minutes a kept probe may receive feedback; then it is deleted (lazily, and by the
    #: retention job).
    keep_minutes: float = Field(default=15.0, gt=0.0, le=7 * 24 * 60.0)
    #: Most probes kept at once (the oldest go first past it).
    max_kept: int = Field(default=100_000, ge=1, le=10_000_000)
    #: How negative anchors change identify's decision (facegate/negatives.py): ``nearer``
    #: refuses an identity for a probe nearer one of its anchors than its own samples (by
    #: ``margin``), ``adaptive`` lowers the identity's threshold below its anchors' scores,
    #: ``off`` keeps anchors without effect. docs/accuracy.md measures them.
    rule: Literal["nearer", "adaptive", "off"] = "nearer"
    margin: float = Field(default=0.0, ge=-1.0, le=1.0)
    #: ``is`` feedback enrols the kept face only when its smaller side has at least this many
    #: pixels (the enrolment quality gate for a face taken from an identify photo).
    enrol_min_face_px: int = Field(default=60, ge=1)
