"""Challenge-response liveness sessions: the server picks random actions, the client films the
person doing them and posts the frames once, before the session expires.

Sessions live in the gallery store (``SessionBook`` over ``SharedState``), so with several
replicas any of them takes the frames of a session another issued, and a session is used once
across them all; the digests of frames sent are shared too (a replay to another replica is seen).
Sessions survive a restart until they expire.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import cast

from facegate.domain import RGBImage
from facegate.errors import (
    LivenessError,
    SessionExpiredError,
    SessionNotFoundError,
    SessionUsedError,
)
from facegate.pipeline.liveness.actions import ACTIONS, Action, ActionResult, check_actions
from facegate.pipeline.video import Sampling
from facegate.services.liveness import (
    ACTIONS_NOT_PERFORMED,
    LivenessService,
    Reason,
    SequenceReport,
)
from facegate.storage.state import SharedState, StoredSession

REPLAYED_FRAMES = "REPLAYED_FRAMES"
#: Seconds after which expired sessions, used session ids and seen frames are forgotten …
FORGET_AFTER_S = 3600.0
#: … by the first session created after this many seconds (per process).
FORGET_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    nonce: str
    actions: tuple[Action, ...]
    created_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class SessionResult:
    session: Session
    live: bool
    actions: list[ActionResult]
    report: SequenceReport
    reasons: list[Reason]


@dataclass
class SessionBook:
    """Sessions in the gallery store (any replica answers), each usable once, and the digests of
    frames recently sent."""

    liveness: LivenessService
    store: SharedState
    ttl_s: float = 120.0
    min_actions: int = 2
    max_actions: int = 3
    _forgot_at: float = 0.0

    def create(self, *, actions: tuple[Action, ...] | None = None,
               ttl_s: float | None = None) -> Session:
        """A new session with ``actions`` drawn at random (distinct, in random order) unless
        given (tests and operators only: clients never choose)."""
        if actions is None:
            count = self.min_actions + secrets.randbelow(self.max_actions - self.min_actions + 1)
            pool = list(ACTIONS)
            actions = tuple(pool.pop(secrets.randbelow(len(pool))) for _ in range(count))
        now = time.time()
        session = Session(id=secrets.token_hex(16), nonce=secrets.token_urlsafe(16),
                          actions=actions, created_at=now, expires_at=now + (ttl_s or self.ttl_s))
        if now - self._forgot_at > FORGET_EVERY_S:
            self._forgot_at = now
            self.store.forget_liveness(now - FORGET_AFTER_S)
        self.store.add_liveness_session(StoredSession(
            id=session.id, nonce=session.nonce, actions=session.actions,
            created_at=session.created_at, expires_at=session.expires_at))
        return session

    def claim(self, session_id: str, nonce: str) -> Session:
        """Mark the session used (once, across replicas), even when the check then fails."""
        now = time.time()
        stored = self.store.get_liveness_session(session_id)
        if stored is None:
            raise SessionNotFoundError("no such liveness session (it may have expired "
                                       "long ago)")
        if stored.used_at is not None:
            raise SessionUsedError("this liveness session was already used; start a new one")
        if not secrets.compare_digest(stored.nonce, nonce):
            raise LivenessError("the nonce does not match this session")
        if not self.store.use_liveness_session(session_id, now):  # another request was first
            raise SessionUsedError("this liveness session was already used; start a new one")
        if now > stored.expires_at:
            raise SessionExpiredError("this liveness session expired; start a new one",
                                      details={"expired_s_ago": round(now - stored.expires_at,
                                                                      1)})
        return Session(id=stored.id, nonce=stored.nonce,
                       actions=cast(tuple[Action, ...], stored.actions),
                       created_at=stored.created_at, expires_at=stored.expires_at)

    def check(self, session: Session, frames: list[RGBImage], *, fps: float | None = None,
              sampling: Sampling | None = None) -> SessionResult:
        report = self.liveness.analyze(frames, fps=fps, sampling=sampling)
        results = check_actions(session.actions, [f.geometry for f in report.frames],
                                report.events)
        reasons = list(report.reasons)
        missing = [r.action for r in results if not r.done]
        if missing:
            reasons.append(Reason(ACTIONS_NOT_PERFORMED, "not seen in order: "
                                  + ", ".join(missing)))
        seen = self.store.note_liveness_frames([f.pixels_sha256 for f in report.frames],
                                               time.time())
        replayed = sorted(f.index for f in report.frames if f.pixels_sha256 in seen)
        if replayed:
            reasons.append(Reason(REPLAYED_FRAMES, "frames already sent to an earlier session",
                                  replayed))
        return SessionResult(session=session, live=not reasons, actions=results,
                             report=report, reasons=reasons)
