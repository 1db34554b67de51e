"""The audit log's records, the ``AuditLog`` part of the store contract, and its memory version.

A record says who did what to which biometric data and how it ended: time, actor, client
address, request id, route (method + path template, never a query), outcome (status, error
code), the identity ids named and a small JSON object of details (identify's ``unknown``
count, verify's decision and distance). Never an image, a chip or a descriptor.

Pages run newest first by ``(time, id)``; the cursor is opaque (base64 of the last row's time
and id), so a page boundary never repeats or skips a row even when rows share a time.
"""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from facegate.errors import ValidationError

#: The most rows one page may hold.
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: str
    time: datetime
    #: ``user``, ``key``, ``bootstrap`` (a key from FACEGATE_SERVER__API_KEYS), ``anonymous``
    #: (an open loopback server, or a request refused before it was known) or ``cli``.
    actor_kind: str
    actor_id: str | None
    actor_name: str | None
    client: str | None
    request_id: str
    method: str
    route: str
    status: int
    error_code: str | None = None
    identity_ids: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of ``audit_page`` (all optional, combined with AND). ``actor`` matches the
    actor's id, name or kind; ``route`` the path template (``/v1/identify``); ``since`` is
    inclusive, ``until`` exclusive; ``ok`` True keeps successes (status < 400, no error code),
    False the rest; ``status`` and ``error_code`` match exactly."""

    actor: str | None = None
    route: str | None = None
    method: str | None = None
    identity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ok: bool | None = None
    status: int | None = None
    error_code: str | None = None


class AuditLog(Protocol):
    """Where audit records are kept (every ``GalleryStore`` is one)."""

    def append_audit(self, records: list[AuditRecord]) -> None:
        """Insert the records in one transaction."""
        ...

    def audit_page(self, query: AuditQuery, *, limit: int = 100,
                   cursor: str | None = None) -> tuple[list[AuditRecord], str | None]:
        """Up to ``limit`` records newest first, after ``cursor``; and the next page's cursor
        (None on the last page). A malformed cursor raises ValidationError."""
        ...

    def purge_audit(self, before: datetime) -> int:
        """Delete the records older than ``before``; returns how many."""
        ...


def encode_cursor(record: AuditRecord) -> str:
    raw = f"{text_time(record.time)}|{record.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """``(time as text_time, id)`` of the row a page continues after."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        time_text, record_id = raw.split("|")
        text_time(datetime.fromisoformat(time_text))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationError("the cursor is not one this server handed out") from exc
    return time_text, record_id


def text_time(moment: datetime) -> str:
    """Fixed width UTC ISO-8601 with microseconds: as text it sorts like the times."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be 1 to {MAX_PAGE}")
    return limit


def matches(record: AuditRecord, query: AuditQuery) -> bool:
    """Whether ``record`` passes ``query``'s filters (the memory store's WHERE clause)."""
    checks = (
        query.actor is None or query.actor in (record.actor_id, record.actor_name,
                                               record.actor_kind),
        query.route is None or record.route == query.route,
        query.method is None or record.method == query.method,
        query.identity_id is None or query.identity_id in record.identity_ids,
        query.since is None or record.time >= query.since,
        query.until is None or record.time < query.until,
        query.ok is None or (record.status < 400 and record.error_code is None) == query.ok,
        query.status is None or record.status == query.status,
        query.error_code is None or record.error_code == query.error_code,
    )
    return all(checks)


class MemoryAudit:
    """The audit log of ``MemoryStore``: a list, filtered and sorted on read."""

    def __init__(self) -> None:
        self._audit_lock = threading.Lock()
        self._audit: list[AuditRecord] = []

    def append_audit(self, records: list[AuditRecord]) -> None:
        with self._audit_lock:
            self._audit.extend(records)

    def audit_page(self, query: AuditQuery, *, limit: int = 100,
                   cursor: str | None = None) -> tuple[list[AuditRecord], str | None]:
        check_limit(limit)
        after = decode_cursor(cursor) if cursor else None
        with self._audit_lock:
            rows = [r for r in self._audit if matches(r, query)
                    and (after is None or (text_time(r.time), r.id) < after)]
        rows.sort(key=lambda r: (text_time(r.time), r.id), reverse=True)
        page = rows[:limit]
        return page, encode_cursor(page[-1]) if len(rows) > limit else None

    def purge_audit(self, before: datetime) -> int:
        with self._audit_lock:
            kept = [r for r in self._audit if r.time >= before]
            purged = len(self._audit) - len(kept)
            self._audit = kept
        return purged
