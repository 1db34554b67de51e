"""Writes audit records in batches on a background thread, so a request pays only for queueing
its record (a few microseconds), never for a database commit.

``offer`` puts a record in a bounded queue without waiting; ``submit`` waits up to
``full_wait_s`` for room (call it off the event loop), then drops the record, counts it in
``dropped`` and logs. The writer commits what is queued every ``flush_s`` or as soon as
``batch_rows`` wait, retries a failed commit a few times, and purges records older than the
retention every ``purge_every_s`` (a server also calls ``purge`` once at start). ``close``
writes everything still queued.
A crash (a kill, power loss) loses the records not yet committed: at most one batch, about
``flush_s`` of requests, more only when the store was already falling behind.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from datetime import timedelta
from typing import Any

from facegate.errors import ValidationError
from facegate.storage.audit import AuditLog, AuditRecord
from facegate.storage.base import utcnow

logger = logging.getLogger(__name__)

#: A failed commit is tried this many times in all, this many seconds apart.
ATTEMPTS, RETRY_S = 3, 0.5
_Item = AuditRecord | threading.Event | None
_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,63}")


class AuditWriter:
    def __init__(self, log: AuditLog, *, queue_rows: int = 10_000, batch_rows: int = 200,
                 flush_s: float = 0.1, full_wait_s: float = 0.2, retention_days: int = 90,
                 purge_every_s: float = 3600.0) -> None:
        self._log = log
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=queue_rows)
        self._batch_rows, self._flush_s, self._full_wait_s = batch_rows, flush_s, full_wait_s
        self._retention_days, self._purge_every_s = retention_days, purge_every_s
        self.dropped = 0
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)

    def start(self) -> None:
        """Start the writer thread (records offered before wait in the queue)."""
        if self._thread.ident is None:
            self._thread.start()

    def offer(self, record: AuditRecord) -> bool:
        """Queue ``record`` if there is room now (never waits)."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            return False
        return True

    def submit(self, record: AuditRecord) -> bool:
        """Queue ``record``, waiting up to ``full_wait_s`` for room; else drop and count it."""
        try:
            self._queue.put(record, timeout=self._full_wait_s)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.error("audit queue full: %d audit record(s) dropped so far (the store "
                             "is not keeping up)", self.dropped)
            return False
        return True

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything queued before this call is committed (or given up)."""
        self.start()
        done = threading.Event()
        self._queue.put(done, timeout=timeout_s)
        return done.wait(timeout_s)

    def purge(self) -> int:
        """Delete the records older than the retention (none when it is 0); returns how many."""
        if self._retention_days <= 0:
            return 0
        purged = self._log.purge_audit(utcnow() - timedelta(days=self._retention_days))
        if purged:
            logger.info("audit log: %d record(s) older than %d days purged", purged,
                        self._retention_days)
        return purged

    def close(self, timeout_s: float = 30.0) -> None:
        """Commit what is queued and stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None, timeout=timeout_s)
            self._thread.join(timeout_s)

    def _run(self) -> None:
        next_purge = time.monotonic() + self._purge_every_s  # the server purges at start
        stop = False
        while not stop:
            if time.monotonic() >= next_purge:
                self._purge_quietly()
                next_purge = time.monotonic() + self._purge_every_s
            batch, waiters, stop = self._collect()
            self._commit(batch)
            for waiter in waiters:
                waiter.set()

    def _collect(self) -> tuple[list[AuditRecord], list[threading.Event], bool]:
        """The next batch: records until ``batch_rows``, ``flush_s`` after the first, a flush
        request or the stop sentinel (True)."""
        batch: list[AuditRecord] = []
        deadline = time.monotonic() + self._flush_s
        while len(batch) < self._batch_rows:
            wait = self._flush_s if not batch else deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=max(wait, 0.0))
            except queue.Empty:
                break
            if item is None:
                return batch, [], True
            if isinstance(item, threading.Event):
                return batch, [item], False
            if not batch:
                deadline = time.monotonic() + self._flush_s
            batch.append(item)
        return batch, [], False

    def _commit(self, batch: list[AuditRecord]) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            if not batch:
                return
            try:
                self._log.append_audit(batch)
            except Exception as exc:  # the store is down or busy: retry, then count the loss
                logger.warning("audit write of %d record(s) failed (attempt %d of %d): %s",
                               len(batch), attempt, ATTEMPTS, exc)
                time.sleep(RETRY_S)
                continue
            self.written += len(batch)
            return
        self.dropped += len(batch)
        logger.error("audit log: %d record(s) lost: the store refused them", len(batch))

    def _purge_quietly(self) -> None:
        try:
            self.purge()
        except Exception as exc:  # retried at the next purge
            logger.warning("audit purge failed: %s", exc)


def route_filter(route: str | None) -> tuple[str | None, str | None]:
    """``(method, route)`` of a route filter: ``POST /v1/identities`` or just the template."""
    if route is not None and " /" in route:
        method, _, template = route.partition(" ")
        return method.upper(), template
    return None, route


def command_record(command: str, *, failed: str | None = None,
                   identity_ids: tuple[str, ...] = (), **details: object) -> AuditRecord:
    """The audit row of a ``facegate`` command run on the gallery itself (no HTTP): actor kind
    ``cli`` named after the operating-system user, route ``facegate <command>``; ``failed``
    is the error code when it failed."""
    import getpass
    import os
    import uuid

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = f"uid {os.getuid()}"
    return AuditRecord(
        id=uuid.uuid4().hex, time=utcnow(), actor_kind="cli", actor_id=None, actor_name=user,
        client=None, request_id=uuid.uuid4().hex, method="CLI", route=f"facegate {command}",
        status=1 if failed else 0, error_code=failed, identity_ids=identity_ids,
        details=dict(details))


def outcome_filter(outcome: str | None) -> dict[str, Any]:
    """``ok`` / ``error`` / ``404`` / ``IDENTITY_NOT_FOUND`` as ``AuditQuery`` fields."""
    if outcome is None:
        return {}
    if outcome in ("ok", "error"):
        return {"ok": outcome == "ok"}
    if outcome.isdigit() and len(outcome) == 3:
        return {"status": int(outcome)}
    if _ERROR_CODE.fullmatch(outcome):
        return {"error_code": outcome}
    raise ValidationError("outcome must be ok, error, an HTTP status or an error code",
                          details={"outcome": outcome[:64]})


def item(record: AuditRecord) -> dict[str, Any]:
    return {
        "id": record.id, "time": record.time.isoformat(),
        "actor": {"kind": record.actor_kind, "id": record.actor_id, "name": record.actor_name},
        "client": record.client, "request_id": record.request_id, "method": record.method,
        "route": record.route, "status": record.status, "error_code": record.error_code,
        "identity_ids": list(record.identity_ids), "details": record.details,
    }
