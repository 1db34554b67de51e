"""Request and response models of ``/v1/events`` (the outbox's delivery log and test sends)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from facegate.api.inputs import RequestModel
from facegate.api.schemas import Timestamp


class DeliveryOut(BaseModel):
    """One event's delivery to one sink: ``status`` ``pending`` (``attempts`` > 0: it failed
    that often, ``next_attempt_at`` is the retry) or ``delivered``; ``last_result`` the last
    attempt's outcome (``HTTP 204``, ``ok``, or why it failed)."""

    event_id: str
    event: str
    time: Timestamp
    camera: str | None
    request_id: str | None
    sink: str
    status: str
    attempts: int
    next_attempt_at: Timestamp | None
    delivered_at: Timestamp | None
    last_attempt_at: Timestamp | None
    last_result: str | None
    payload: dict[str, Any]


class DeliveryPage(BaseModel):
    """Newest event first."""

    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int


class TestSendIn(RequestModel):
    """Which sink (``webhook:1``, ``mqtt``); left out: every configured sink."""

    sink: str | None = Field(default=None, max_length=100)


class TestSendResult(BaseModel):
    sink: str
    delivered: bool
    result: str | None = None
    error: str | None = None


class TestSendOut(BaseModel):
    """What each sink did with a ``test`` event sent now (not through the outbox)."""

    results: list[TestSendResult]
