"""A liveness check's frames from what a client sent: images in order, or one video, within
the limits of ``LivenessRules`` (``FACEGATE_LIVENESS__*``; docs/api.md)."""

from __future__ import annotations

from dataclasses import dataclass

from facegate.domain import RGBImage
from facegate.errors import TooManyFramesError, TooManyPixelsError
from facegate.pipeline.image import decode_image
from facegate.pipeline.video import ClipLimits, Sampling, downscaled, read_clip


@dataclass(frozen=True, slots=True)
class InputLimits:
    #: Frames of a frame list at most: a longer one is refused.
    max_frames: int = 300
    #: Frames of a video analysed: a longer video is sampled.
    video_frames: int = 150
    #: Frames decoded from one video at most.
    max_video_frames: int = 3600
    #: Frames are read downscaled to this longer side (0: never).
    max_side: int = 640
    #: Pixels of a whole sequence as read (after downscaling).
    max_sequence_pixels: int = 100_000_000


@dataclass(frozen=True, slots=True)
class Frames:
    """The frames to check, their rate (None: the default), and for a video how they were
    sampled from it."""

    rgb: list[RGBImage]
    fps: float | None
    sampling: Sampling | None = None


def decode_frames(images: list[bytes], limits: InputLimits, *, max_upload_bytes: int,
                  max_pixels: int) -> list[RGBImage]:
    """Each image decoded with the photo limits and downscaled to ``max_side``, and all of
    them within ``max_sequence_pixels`` (checked from each header before it is decoded)."""
    if len(images) > limits.max_frames:
        raise TooManyFramesError(f"at most {limits.max_frames} frames are read",
                                 details={"limit_frames": limits.max_frames})
    frames: list[RGBImage] = []
    left = limits.max_sequence_pixels
    for data in images:
        if left <= 0:
            raise TooManyPixelsError(
                f"the frames hold more than {limits.max_sequence_pixels} pixels in all; "
                "send fewer or smaller frames",
                details={"limit_sequence_pixels": limits.max_sequence_pixels})
        decoded = decode_image(data, max_bytes=max_upload_bytes,
                               max_pixels=min(max_pixels, max(left, 1))).rgb
        rgb = downscaled(decoded, limits.max_side)
        left -= rgb.shape[0] * rgb.shape[1]
        frames.append(rgb)
    return frames


def read_video(data: bytes, limits: InputLimits, *, fps: float | None,
               max_pixels: int) -> Frames:
    """The video's frames, downscaled and sampled (``pipeline.video.read_clip``); ``fps``:
    the client's rate of the source, if it gave one (divided by the sampling step too)."""
    clip = read_clip(data, ClipLimits(
        max_frames=limits.video_frames, max_pixels=max_pixels,
        max_video_frames=limits.max_video_frames, max_side=limits.max_side,
        max_total_pixels=limits.max_sequence_pixels))
    rate = fps / clip.sampling.step if fps else (clip.fps or None)
    return Frames(clip.frames, rate, clip.sampling)
