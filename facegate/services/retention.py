"""The retention job (docs/governance.md): erase expired identities, drop delivered events past
their age, and have the feedback and review parts expire their kept probes and queued faces.

Every replica runs ``RetentionJob`` on a timer (``governance.retention_every_s``); the store
decides who works each period (``claim_retention``: one winner per period over every replica;
``retention_lock``: a PostgreSQL advisory lock held for the run, so runs never overlap). Each
expired identity is erased in its own transaction, exactly like ``DELETE /v1/identities/{id}``
(classifiers rewritten in the same transaction, linked rows and outbox events naming the person
removed, then ``after_erasure``): a run killed half-way leaves every person either whole or
gone, and the next run picks up the rest. Each erasure writes an audit row with its receipt
(no name); ``facegate retention run --dry-run`` lists what would go and changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from facegate.config import Settings
from facegate.errors import FacegateError, IdentityNotFoundError
from facegate.services.gallery import GalleryService
from facegate.services.governance import receipt
from facegate.storage.audit import AuditRecord
from facegate.storage.base import GalleryStore
from facegate.storage.identity_links import ErasedFaces

logger = logging.getLogger(__name__)
#: The job's name in ``retention_runs``.
JOB = "retention"
#: What else expires besides identities and events, by report key (counted when it runs).
EXPIRING = ("kept_probes", "review_items")


class Retention:
    """One run's work over a gallery; ``actor`` names who runs it in the audit rows."""

    def __init__(self, gallery: GalleryService, store: GalleryStore, *, event_age_s: float,
                 sinks: Sequence[str], audit: bool,
                 actor: tuple[str, str | None, str], review_age_s: float = 7 * 86400.0) -> None:
        self._gallery, self._store, self._event_age_s = gallery, store, event_age_s
        self._review_age_s = review_age_s
        self._sinks, self._audit, self._actor = list(sinks), audit, actor

    def run(self, *, dry_run: bool = False, now: datetime | None = None,
            stop: threading.Event | None = None) -> dict[str, Any]:
        """Do (or, with ``dry_run``, list) this period's retention; the report says what went."""
        now = now or datetime.now(UTC)
        expired = self._store.expired_identities(now, limit=100_000)
        before = now.timestamp() - self._event_age_s
        report: dict[str, Any] = {"dry_run": dry_run, "ran_at": now.isoformat(),
                                  "identities": [], "events": 0}
        if dry_run:
            report["identities"] = [self._planned(i) for i in expired]
            report["events"] = self._store.purgeable_events(before=before, sinks=self._sinks)
            report.update(dict.fromkeys(EXPIRING))
            return report
        for identity_id in expired:
            if stop is not None and stop.is_set():
                break
            done = self._erase(identity_id, now)
            if done is not None:
                report["identities"].append(done)
        report["events"] = self._store.purge_events(before=before, sinks=self._sinks)
        report["kept_probes"] = self._store.expire_kept_probes(now)  # past their expires_at
        report["review_items"] = self._store.expire_review_items(
            now.timestamp() - self._review_age_s)
        return report

    def _planned(self, identity_id: str) -> dict[str, Any]:
        try:
            identity = self._store.get_identity(identity_id)
        except IdentityNotFoundError:
            return {"identity_id": identity_id, "samples": 0, "expires_at": None}
        return {"identity_id": identity_id, "samples": identity.face_count,
                "expires_at": identity.expires_at.isoformat() if identity.expires_at else None}

    def _erase(self, identity_id: str, now: datetime) -> dict[str, Any] | None:
        """Erase one expired person; their audit row is written in the erasure's transaction,
        so a kill leaves both or neither."""
        kind, actor_id, name = self._actor
        actor = {"kind": kind, "id": actor_id, "name": name}

        def rows(erased: ErasedFaces) -> list[AuditRecord]:
            if not self._audit:
                return []
            done = receipt(identity_id, erased, actor=actor, erased_at=now)
            return [AuditRecord(
                id=uuid.uuid4().hex, time=datetime.now(UTC), actor_kind=kind, actor_id=actor_id,
                actor_name=name, client=None, request_id=uuid.uuid4().hex, method="JOB",
                route="retention", status=0, identity_ids=(identity_id,),
                details={"receipt": {k: v for k, v in done.items() if k != "actor"},
                         "reason": "expired"})]

        try:
            erased = self._gallery.erase_identity(identity_id, audit=rows)
        except IdentityNotFoundError:
            return None  # another replica or a request got there first
        logger.info("retention erased expired identity %s (%d faces)", identity_id, len(erased))
        return receipt(identity_id, erased, actor=actor, erased_at=now)


class RetentionJob:
    """``Retention`` every ``every_s`` on a daemon thread, once per period over every replica."""

    def __init__(self, retention: Retention, store: GalleryStore, *, every_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._retention, self._store, self._every_s, self._clock = retention, store, every_s, clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._every_s > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="facegate-retention",
                                            daemon=True)
            self._thread.start()

    def run_once(self) -> dict[str, Any] | None:
        """One period's run if this replica wins it (else None: another one has it)."""
        with self._store.retention_lock() as mine:
            if not mine or not self._store.claim_retention(JOB, now=self._clock(),
                                                           every_s=self._every_s * 0.9):
                return None
            return self._retention.run(stop=self._stop)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except FacegateError as exc:
                logger.warning("retention run failed: %s: %s", exc.code, exc.message)
            except Exception:
                logger.exception("retention run failed")
            self._stop.wait(self._every_s)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def sink_names(webhooks: int, mqtt: bool) -> list[str]:
    """The outbox's sink names for a configuration (``events/sinks.py`` names them so)."""
    return [f"webhook:{n}" for n in range(1, webhooks + 1)] + (["mqtt"] if mqtt else [])



def retention(settings: Settings, gallery: GalleryService, store: GalleryStore, *,
              actor: tuple[str, str | None, str]) -> Retention:
    """The retention work a server or command runs, from ``settings``."""
    events = settings.events
    return Retention(gallery, store, event_age_s=events.retention_hours * 3600,
                     sinks=sink_names(len(events.webhooks), bool(events.mqtt.url))
                     if events.enabled else [],
                     audit=settings.audit.enabled, actor=actor,
                     review_age_s=settings.review.retention_days * 86400.0)
