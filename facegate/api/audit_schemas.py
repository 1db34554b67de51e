"""Response models of ``GET /v1/audit`` (the audit log, docs/audit.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from facegate.api.schemas import Timestamp


class AuditActor(BaseModel):
    """Who: ``kind`` is ``user``, ``key``, ``bootstrap`` (a key from FACEGATE_SERVER__API_KEYS),
    ``anonymous`` or ``cli``; ``id`` and ``name`` the user's or key's when known."""

    kind: str
    id: str | None
    name: str | None


class AuditItem(BaseModel):
    """One audited request. ``route`` is the path template (no query); ``details`` holds what
    the route adds (identify's ``unknown`` count, verify's ``match`` and ``distance``, path
    parameters such as ``face_id``, ``duration_ms``); never an image, a chip or a descriptor."""

    id: str
    time: Timestamp
    actor: AuditActor
    client: str | None
    request_id: str
    method: str
    route: str
    status: int
    error_code: str | None
    identity_ids: list[str]
    details: dict[str, Any] = Field(default_factory=dict)


class AuditPage(BaseModel):
    """Newest first; pass ``next_cursor`` as ``cursor`` for the next page (null: the last)."""

    items: list[AuditItem]
    next_cursor: str | None
