"""Settings sections of access control: request rates and the audit log (built into
``config.Settings``). Imports nothing from facegate."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RateSettings(BaseModel):
    """Request rates per caller (its API key when it sends one, else its client address), by
    scope; 0 turns a scope's limit off. Over it: 429 RATE_LIMITED with Retry-After."""

    #: Requests a minute to identify, verify, detect, embed and liveness, per caller.
    recognize_per_minute: int = Field(default=1200, ge=0, le=1_000_000)
    #: ... of which this many may come at once (saved up while the caller is idle).
    recognize_burst: int = Field(default=600, ge=1, le=1_000_000)
    #: Callers tracked at once (one small bucket each); past it the least recent is forgotten.
    max_buckets: int = Field(default=100_000, ge=1, le=10_000_000)


class AuditSettings(BaseModel):
    """The audit log (docs/audit.md): one row per request that touches biometric data or
    changes anything, written in batches by a background thread."""

    #: Record requests at all.
    enabled: bool = True
    #: Rows older than this many days are purged (at start and hourly); 0 keeps them forever.
    retention_days: int = Field(default=90, ge=0, le=36_500)
    #: Rows waiting for the writer; when full, a request waits up to ``full_wait_ms`` for room
    #: (off the event loop), then its row is dropped, counted and logged.
    queue_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    full_wait_ms: int = Field(default=200, ge=0, le=10_000)
    #: The writer commits what is queued every this many milliseconds, or sooner once
    #: ``batch_rows`` are waiting; a crash loses at most the rows not yet committed.
    flush_ms: int = Field(default=100, ge=1, le=60_000)
    batch_rows: int = Field(default=200, ge=1, le=10_000)
