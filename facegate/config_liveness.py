"""Settings section of the liveness checks' inputs (``FACEGATE_LIVENESS__*``, docs/api.md),
built into ``config.Settings``. Imports nothing from facegate."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

#: ``max_frames``'s default, also the ``maxItems`` the OpenAPI document states for ``frames``.
DEFAULT_MAX_FRAMES = 300
#: The settings ``services.liveness.LivenessRules`` takes as they are.
LIMIT_FIELDS = frozenset(
    {"max_frames", "video_frames", "max_video_frames", "max_side", "max_sequence_pixels"})


class LivenessSettings(BaseModel):
    """What one blink or session check reads. A frame list is the client's own choice of
    frames: past ``max_frames`` it is refused. A video is read whole: downscaled to
    ``max_side`` and, past ``video_frames``, sampled at a steady rate (every k-th frame, the
    smallest k that keeps at most ``video_frames``; the answer's ``sampling`` says which)."""

    #: Frames of a frame list at most (300: 10 s at 30 fps); past it TOO_MANY_FRAMES.
    max_frames: int = Field(default=DEFAULT_MAX_FRAMES, ge=8, le=3000)
    #: Frames of a video one check analyses, at most ``max_frames``: a 5 s, 30 fps clip is read
    #: whole, a 12 s selfie at 10 fps (every 3rd frame), where every annotated clip keeps its
    #: verdict (docs/liveness.md); 300 reads 10 s whole at twice the time of 150.
    video_frames: int = Field(default=150, ge=8, le=3000)
    #: Frames decoded from one video at most (3600: 2 minutes at 30 fps); past it
    #: TOO_MANY_FRAMES.
    max_video_frames: int = Field(default=3600, ge=8, le=100_000)
    #: Frames (of a video or a frame list) whose longer side is over this are read downscaled
    #: to it (pixels; 0: never). 640 keeps a selfie's eyes ~50 px wide and leaves the 480-512 px
    #: clips of the liveness tests as they are.
    max_side: int = Field(default=640, ge=0, le=8192)
    #: Pixels of a whole sequence as read (after downscaling); past it TOO_MANY_PIXELS. A
    #: frame of the source is still held to ``image.max_pixels`` before it is decoded.
    max_sequence_pixels: int = Field(default=100_000_000, gt=0)
    #: Frames are first searched by ``blazeface`` (MediaPipe's short-range BlazeFace, Apache-2.0:
    #: ~5 ms on a 640 px frame), its one face's box mapped to HOG's; where it finds none or
    #: several, and with ``hog``, by the photo detector (``detection``).
    detector: Literal["blazeface", "hog"] = "blazeface"
    #: Threads one check reads its frames on (face mesh, iris, descriptors; the face track
    #: stays in the request's thread); empty means every core this process may use. Every
    #: answer is the same whatever the count: only the time changes.
    threads: int | None = Field(default=None, ge=1, le=64)

    @model_validator(mode="after")
    def _video_within_frames(self) -> LivenessSettings:
        if self.video_frames > self.max_frames:
            raise ValueError(f"video_frames ({self.video_frames}) must be at most max_frames "
                             f"({self.max_frames})")
        return self
