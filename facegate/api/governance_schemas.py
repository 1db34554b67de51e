"""Governance shapes of the identities API (docs/governance.md): a consent record in and out,
and the erasure receipt ``DELETE /v1/identities/{id}`` answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, Field

from facegate.api.inputs import RequestModel
from facegate.domain import Consent

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class ConsentIn(RequestModel):
    """When consent was given (a time without a zone is UTC; left out: now), for which purpose,
    and a reference to where its proof is kept (a form number; never the document itself)."""

    given_at: datetime | None = None
    purpose: str = Field(min_length=1, max_length=500)
    reference: str | None = Field(default=None, max_length=200)

    def record(self) -> Consent:
        return Consent(given_at=self.given_at or datetime.now(UTC), purpose=self.purpose,
                       reference=self.reference)


class ConsentOut(BaseModel):
    given_at: Timestamp
    purpose: str
    reference: str | None


class Actor(BaseModel):
    kind: str
    id: str | None
    name: str | None


class Receipt(BaseModel):
    """What an erasure removed with the person (counts; never their name), when and by whom."""

    identity_id: str
    samples: int
    chips: int
    negative_anchors: int
    review_items: int
    outbox_events: int
    kept_probes: int
    erased_at: Timestamp
    actor: Actor
