"""Request and response bodies of /v1/feedback and /v1/identities/{id}/negatives."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from facegate.api.inputs import RequestModel


class FeedbackIn(RequestModel):
    """A verdict on one face of an identify/verify answer (its ``request_id``)."""

    request_id: str = Field(min_length=1, max_length=128,
                            description="the answer's request_id (X-Request-ID)")
    face_index: int = Field(ge=0, le=10_000, description="the face's place in the answer")
    verdict: Literal["correct", "wrong", "is"]
    identity_id: str | None = Field(default=None, min_length=1, max_length=200,
                                    description="for 'is': the person it was")


class FeedbackOut(BaseModel):
    request_id: str
    face_index: int
    verdict: Literal["correct", "wrong", "is"]
    identity_id: str = Field(description="the identity the verdict is about")
    effect: Literal["none", "negative_anchor", "enrolled"]
    anchor_id: str | None = Field(description="the negative anchor stored ('wrong')")
    face_id: str | None = Field(description="the face enrolled ('is')")
    repeated: bool = Field(description="the same verdict was given before: nothing added")


class FeedbackUndone(BaseModel):
    undone: FeedbackOut | None = Field(description="the verdict taken back (null: none)")


class NegativeAnchorOut(BaseModel):
    id: str
    identity_id: str
    request_id: str
    face_index: int
    score: float | None
    created_at: float = Field(description="epoch seconds")


class NegativeAnchorList(BaseModel):
    items: list[NegativeAnchorOut]
