"""/v1/events: the outbox's delivery log and a test send to the sinks (docs/operations.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Query, Request

from facegate.api.deps import FacegateDep
from facegate.api.event_schemas import DeliveryPage, TestSendIn, TestSendOut
from facegate.api.openapi import BODY, STORE, answers
from facegate.errors import ValidationError
from facegate.events.deliverer import as_event
from facegate.events.emitter import Events
from facegate.storage.events import Delivery

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.get("/deliveries", response_model=DeliveryPage,
            responses=answers(ValidationError, *STORE))
def deliveries(
    facegate: FacegateDep,
    sink: Annotated[str | None, Query(max_length=100, description="a sink's name")] = None,
    status: Annotated[Literal["pending", "delivered", "failed"] | None, Query(
        description="failed: pending after at least one failed attempt")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """The delivery log: each event's state per sink, newest first (delivered events are kept
    ``events.retention_hours``). The payload is what the sink is sent, without a snapshot."""
    rows, total = facegate.store.deliveries(sink=sink, status=status, limit=limit,
                                            offset=offset)
    return {"items": [_delivery(row) for row in rows], "total": total, "limit": limit,
            "offset": offset}


@router.post("/test", response_model=TestSendOut, responses=answers(*BODY))
async def test_send(request: Request, body: TestSendIn) -> dict[str, Any]:
    """Send a ``test`` event to one sink or to every configured one, now, and say what
    happened (the outbox is not involved; nothing is retried)."""
    events: Events | None = request.app.state.events
    names = [] if events is None else [s.name for s in events.sinks]
    if body.sink is not None and body.sink not in names:
        raise ValidationError(f"no event sink named {body.sink!r}",
                              details={"sinks": names})
    if events is None:
        return {"results": []}
    sent = events
    return {"results": await anyio.to_thread.run_sync(lambda: sent.test_send(body.sink))}


def _time(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


def _delivery(row: Delivery) -> dict[str, Any]:
    event = row.event
    return {"event_id": event.id, "event": event.type, "time": _time(event.time),
            "camera": event.camera, "request_id": event.request_id, "sink": row.sink,
            "status": row.status, "attempts": row.attempts,
            "next_attempt_at": _time(row.next_attempt_at) if row.status == "pending" else None,
            "delivered_at": _time(row.delivered_at),
            "last_attempt_at": _time(row.last_attempt_at), "last_result": row.last_result,
            "payload": as_event(event).payload()}
