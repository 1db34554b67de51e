"""Settings of the unknown-face review queue (``settings.review``, docs/governance.md "Unknown-face
review queue"): off by default, because turning it on keeps biometric data (face chips and
descriptors) of people who never enrolled. Imports nothing from facegate."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ReviewSettings(BaseModel):
    """``FACEGATE_REVIEW__*``: keep unknown faces from identify for an operator to name or
    ignore."""

    #: Keep the unknown faces identify finds (chip, descriptor, time, camera). Biometric
    #: retention of strangers: say so in your privacy notice before turning it on.
    enabled: bool = False
    #: Days an unknown face is kept; older ones are deleted (by the retention job and lazily).
    retention_days: float = Field(default=7.0, gt=0.0, le=365.0)
    #: At most this many faces in the queue; past it the oldest go first.
    max_faces: int = Field(default=5000, ge=1, le=1_000_000)
    #: At most this many faces kept per cluster; past it a better one replaces the worst.
    max_faces_per_cluster: int = Field(default=30, ge=1, le=1000)
    #: A new unknown joins the nearest cluster whose mean descriptor and every kept face are
    #: within this fraction of the server's match threshold (else it starts a cluster). An
    #: ignored cluster swallows the faces that join it: they are not queued again.
    cluster_within: float = Field(default=0.8, gt=0.0, le=1.5)
    #: Naming or assigning a cluster enrols at most this many of its best faces (by quality).
    enrol_best: int = Field(default=5, ge=1, le=100)
