"""Response models of the liveness routes (the shapes of ``services.liveness_report``), and of
identify and verify with liveness; see ``api.schemas``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from facegate.api.schemas import Box, IdentifyOut, Timings, VerifyOut
from facegate.domain import DESCRIPTOR_SIZE
from facegate.pipeline.liveness.actions import Action


class Reason(BaseModel):
    """Why a sequence is not live (codes in docs/liveness.md), with the frames concerned."""

    code: str
    message: str
    frames: list[int]


class EyeEvent(BaseModel):
    kind: Literal["blink", "wink"]
    eye: Literal["both", "left", "right"]
    start: int
    end: int
    closed_start: int
    closed_end: int
    depth: float


class FrameOut(BaseModel):
    """One frame's measures (null where no single face was read)."""

    index: int
    faces: int
    box: Box | None
    right_eye: float | None
    left_eye: float | None
    right_relative: float | None
    left_relative: float | None
    yaw_deg: float | None
    pitch_deg: float | None
    mouth_open: float | None


class Baseline(BaseModel):
    """The median of each eye's local open level (what ``*_relative`` divides by)."""

    right_eye: float | None
    left_eye: float | None


class SamplingOut(BaseModel):
    """How a video's frames were read: frame ``i`` of the answer is frame ``i * step`` of the
    video (every frame when 1), downscaled by ``scale``; ``fps`` is the video's over ``step``."""

    step: int
    source_frames: int
    source_fps: float
    scale: float


class SequenceOut(BaseModel):
    live: bool
    reasons: list[Reason]
    blinks: list[EyeEvent]
    winks: list[EyeEvent]
    frame_count: int
    fps: float
    baseline: Baseline
    #: Null for a frame list.
    sampling: SamplingOut | None
    best_frame: int | None
    frames: list[FrameOut]
    timings_ms: Timings


class SessionOut(BaseModel):
    id: str
    nonce: str
    actions: list[Action]
    expires_at: float = Field(description="Unix time")
    expires_in_s: float


class ActionOut(BaseModel):
    action: Action
    done: bool
    frame: int | None


class BestFrame(BaseModel):
    frame: int
    box: Box | None
    descriptor: list[float] = Field(min_length=DESCRIPTOR_SIZE, max_length=DESCRIPTOR_SIZE)


class SessionResultOut(SequenceOut):
    session_id: str
    actions: list[ActionOut]
    best: BestFrame | None


class LiveIdentifyOut(BaseModel):
    """``identify`` is null when the sequence is not live: nobody is named."""

    live: bool
    liveness: SequenceOut
    identify: IdentifyOut | None


class LiveVerifyOut(BaseModel):
    """``verify`` is null and ``match`` false when the sequence is not live."""

    live: bool
    match: bool
    liveness: SequenceOut
    verify: VerifyOut | None
