"""State every replica of one gallery shares, beside the gallery itself: challenge-response
liveness sessions and training jobs (``SharedState``, part of every ``GalleryStore``).

Each lives in the store, so any replica answers for it: a session issued by one replica is
completed on another and used once only (a conditional update); a training job runs on one
replica, which writes its row and a heartbeat, and is polled and cancelled through any. A job
whose heartbeat stops (its server died) is reported failed, so the gallery's one training slot
is never held forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A challenge-response liveness session (times in epoch seconds; ``used_at`` None: open)."""

    id: str
    nonce: str
    actions: tuple[str, ...]
    created_at: float
    expires_at: float
    used_at: float | None = None


@dataclass(frozen=True, slots=True)
class StoredJob:
    """A training job's row: written by the replica that runs it (``owner``, whose
    ``heartbeat_at`` says it is alive), read by any; times in epoch seconds. ``model`` is the
    stored classifier's record as JSON (None until it succeeded)."""

    id: str
    status: str
    stage: str
    options: dict[str, Any]
    created_at: float
    heartbeat_at: float
    owner: str
    done: int = 0
    total: int = 0
    photos: dict[str, int] = field(default_factory=dict)
    refusals: tuple[dict[str, str], ...] = ()
    model: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    finished_at: float | None = None
    cancel_requested: bool = False


#: A training job in one of these holds the gallery's one training slot.
ACTIVE_JOB = ("queued", "running", "cancelling")


class SharedState(Protocol):
    """What every replica of one gallery must see alike: liveness sessions and training jobs.

    Errors: ConflictError (a second active job), JobNotFoundError, StoreError.
    """

    def add_liveness_session(self, session: StoredSession) -> None: ...

    def get_liveness_session(self, session_id: str) -> StoredSession | None: ...

    def use_liveness_session(self, session_id: str, now: float) -> bool:
        """Mark it used unless it already is (atomic across replicas): True for the one
        caller that did; False when it was used already or does not exist."""
        ...

    def note_liveness_frames(self, digests: list[str], now: float) -> set[str]:
        """Record frame digests as seen at ``now``; returns those seen before."""
        ...

    def forget_liveness(self, before: float) -> None:
        """Drop sessions that expired (and, if used, were used) before ``before``, and frame
        digests last seen before it."""
        ...

    def insert_job(self, job: StoredJob, *, lost_before: float, lost_error: dict[str, Any],
                   keep: int) -> None:
        """Insert an active job unless another one is active (ConflictError); first, active
        jobs whose heartbeat is older than ``lost_before`` become ``failed`` with
        ``lost_error``; finished jobs beyond the newest ``keep`` are dropped. Atomic across
        replicas."""
        ...

    def change_job(self, job_id: str,
                   change: Callable[[StoredJob], StoredJob | None]) -> StoredJob:
        """Apply ``change`` to the job in one transaction (the row locked); None leaves it as
        it is. Returns the job as it now stands; JobNotFoundError."""
        ...

    def get_job(self, job_id: str) -> StoredJob:
        """JobNotFoundError when there is none."""
        ...

    def list_jobs(self, limit: int) -> list[StoredJob]:
        """The newest ``limit`` jobs, newest first."""
        ...
