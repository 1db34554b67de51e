"""/v1/audit: the audit log, newest first, filtered, cursor-paginated (docs/audit.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from facegate.api.audit_schemas import AuditPage
from facegate.api.deps import FacegateDep
from facegate.api.openapi import STORE, answers
from facegate.errors import ValidationError
from facegate.services.audit import item, outcome_filter, route_filter
from facegate.storage.audit import MAX_PAGE, AuditQuery

router = APIRouter(prefix="/v1", tags=["audit"])
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
    method, route = route_filter(route)
    query = AuditQuery(actor=actor, route=route, method=method, identity_id=identity_id,
                       since=_utc(since), until=_utc(until), **outcome_filter(outcome))
    records, next_cursor = facegate.store.audit_page(query, limit=limit, cursor=cursor)
    return {"items": [item(r) for r in records], "next_cursor": next_cursor}


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
