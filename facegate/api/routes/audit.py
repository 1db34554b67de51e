"""/v1/audit: the audit log, newest first, filtered, cursor-paginated (docs/audit.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from facegate.api.audit_schemas import AuditPage
from facegate.api.deps import FacegateDep
from facegate.api.openapi import STORE, answers
from facegate.errors import ValidationError
from facegate.storage.audit import MAX_PAGE, AuditQuery, AuditRecord

router = APIRouter(prefix="/v1", tags=["audit"])
_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,63}")
Text = Annotated[str | None, Query(max_length=200)]


@router.get("/audit", response_model=AuditPage, responses=answers(ValidationError, *STORE))
def audit_log(
    facegate: FacegateDep, route: Text = None, actor: Text = None, identity_id: Text = None,
    since: Annotated[datetime | None, Query(description="inclusive, ISO 8601")] = None,
    until: Annotated[datetime | None, Query(description="exclusive, ISO 8601")] = None,
    outcome: Annotated[str | None, Query(
        max_length=64, description="ok, error, a status (404) or an error code")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> dict[str, Any]:
    """Audited requests, newest first. ``route`` is a path template (``/v1/identify``), or
    ``METHOD /path``; ``actor`` an actor's id, name or kind; ``since``/``until`` times
    (without a zone: UTC)."""
    method = None
    if route is not None and " " in route:
        method, route = route.split(" ", 1)
    query = AuditQuery(actor=actor, route=route, method=method, identity_id=identity_id,
                       since=_utc(since), until=_utc(until), **outcome_filter(outcome))
    records, next_cursor = facegate.store.audit_page(query, limit=limit, cursor=cursor)
    return {"items": [item(r) for r in records], "next_cursor": next_cursor}


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


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def item(record: AuditRecord) -> dict[str, Any]:
    return {
        "id": record.id, "time": record.time.isoformat(),
        "actor": {"kind": record.actor_kind, "id": record.actor_id, "name": record.actor_name},
        "client": record.client, "request_id": record.request_id, "method": record.method,
        "route": record.route, "status": record.status, "error_code": record.error_code,
        "identity_ids": list(record.identity_ids), "details": record.details,
    }
