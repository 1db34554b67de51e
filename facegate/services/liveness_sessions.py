"""Challenge-response liveness sessions: the server picks random actions, the client films the
person doing them and posts the frames once, before the session expires.

Sessions live in this process's memory (``SessionBook``): with several replicas, the frames must
reach the replica that issued the session (sticky routing on the session id), or the book must
move to the shared store. A restart forgets open sessions (clients ask for a new one).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from facegate.domain import RGBImage
from facegate.errors import (
    LivenessError,
    SessionExpiredError,
    SessionNotFoundError,
    SessionUsedError,
)
from facegate.pipeline.liveness.actions import ACTIONS, Action, ActionResult, check_actions
from facegate.services.liveness import (
    ACTIONS_NOT_PERFORMED,
    LivenessService,
    Reason,
    SequenceReport,
)

REPLAYED_FRAMES = "REPLAYED_FRAMES"
#: Seconds after which expired sessions, used session ids and seen frames are forgotten.
FORGET_AFTER_S = 3600.0


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
    """Open sessions (in memory), each usable once, and the frames of recent ones."""

    liveness: LivenessService
    ttl_s: float = 120.0
    min_actions: int = 2
    max_actions: int = 3
    max_open: int = 10_000
    _open: OrderedDict[str, Session] = field(default_factory=OrderedDict)
    _used: OrderedDict[str, float] = field(default_factory=OrderedDict)
    _frames_seen: OrderedDict[str, float] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

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
        with self._lock:
            self._forget_old(now)
            self._open[session.id] = session
        return session

    def claim(self, session_id: str, nonce: str) -> Session:
        """Take the session out of the book: it can be used once, even when the check fails."""
        now = time.time()
        with self._lock:
            if session_id in self._used:
                raise SessionUsedError("this liveness session was already used; start a new one")
            session = self._open.get(session_id)
            if session is None:
                raise SessionNotFoundError("no such liveness session (it may have expired "
                                           "or been issued by another server)")
            if not secrets.compare_digest(session.nonce, nonce):
                raise LivenessError("the nonce does not match this session")
            del self._open[session_id]
            self._used[session_id] = now
        if now > session.expires_at:
            raise SessionExpiredError("this liveness session expired; start a new one",
                                      details={"expired_s_ago": round(now - session.expires_at,
                                                                      1)})
        return session

    def check(self, session: Session, frames: list[RGBImage], *,
              fps: float | None = None) -> SessionResult:
        report = self.liveness.analyze(frames, fps=fps)
        results = check_actions(session.actions, [f.geometry for f in report.frames],
                                report.events)
        reasons = list(report.reasons)
        missing = [r.action for r in results if not r.done]
        if missing:
            reasons.append(Reason(ACTIONS_NOT_PERFORMED, "not seen in order: "
                                  + ", ".join(missing)))
        hashes = {f.pixels_sha256 for f in report.frames}
        with self._lock:
            replayed = sorted(f.index for f in report.frames
                              if f.pixels_sha256 in self._frames_seen)
            now = time.time()
            for digest in hashes:
                self._frames_seen[digest] = now
        if replayed:
            reasons.append(Reason(REPLAYED_FRAMES, "frames already sent to an earlier session",
                                  replayed))
        return SessionResult(session=session, live=not reasons, actions=results,
                             report=report, reasons=reasons)

    def _forget_old(self, now: float) -> None:
        """Forget sessions expired over ``FORGET_AFTER_S`` ago (until then they answer
        SESSION_EXPIRED), the oldest past ``max_open``, and used ids and frame hashes older
        than that."""
        while self._open and (len(self._open) > self.max_open or
                              next(iter(self._open.values())).expires_at < now - FORGET_AFTER_S):
            self._open.popitem(last=False)
        for record in (self._used, self._frames_seen):
            while record and (len(record) > 50 * self.max_open
                              or next(iter(record.values())) < now - FORGET_AFTER_S):
                record.popitem(last=False)
