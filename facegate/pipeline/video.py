"""Video bytes → RGB frames, with limits, decoded by OpenCV (``opencv-python-headless`` ships
FFmpeg in its wheel). Frame indices are 0-based in decoding order, as OpenCV counts them.

A long video is sampled at a steady rate instead of refused (``read_clip``): every ``step``-th
decoded frame is kept, ``step`` the smallest that keeps at most ``max_frames`` (from the
container's frame count; doubled while reading if the count was short), and kept frames are
downscaled so their longer side is at most ``max_side``.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from facegate.domain import RGBImage
from facegate.errors import TooManyFramesError, TooManyPixelsError, VideoDecodeError


@dataclass(frozen=True, slots=True)
class ClipLimits:
    #: Frames kept: past it the video is sampled.
    max_frames: int
    #: Pixels of one source frame (checked from the header).
    max_pixels: int
    #: Frames decoded at most (TooManyFramesError past it); None: ``max_frames`` (no sampling).
    max_video_frames: int | None = None
    #: Kept frames are downscaled to this longer side (0: never).
    max_side: int = 0
    #: Pixels of all kept frames together (after downscaling).
    max_total_pixels: int | None = None


@dataclass(frozen=True, slots=True)
class Sampling:
    """How a video's kept frames were taken from it."""

    #: Kept frame ``i`` is decoded frame ``i * step``.
    step: int
    source_frames: int
    source_fps: float
    #: Kept frames' side over the source's (1.0: not downscaled).
    scale: float


@dataclass(frozen=True, slots=True)
class Clip:
    frames: list[RGBImage]
    sampling: Sampling

    @property
    def fps(self) -> float:
        """Frames per second of the kept frames (0.0 when the video does not say)."""
        return self.sampling.source_fps / self.sampling.step


def decode_video(
    data: bytes, *, max_frames: int, max_pixels: int, max_total_pixels: int | None = None
) -> tuple[list[RGBImage], float]:
    """Every frame of a short video (RGB uint8) and its frame rate (0.0 when unknown).

    VideoDecodeError when OpenCV cannot read a frame of it; TooManyFramesError past
    ``max_frames``; TooManyPixelsError when a frame is over ``max_pixels`` or all frames
    together over ``max_total_pixels`` (checked before the frame past it is kept).
    """
    clip = read_clip(data, ClipLimits(max_frames=max_frames, max_pixels=max_pixels,
                                      max_total_pixels=max_total_pixels))
    return clip.frames, clip.fps


def read_clip(data: bytes, limits: ClipLimits) -> Clip:
    """The video's frames, sampled and downscaled within ``limits`` (module docstring)."""
    import cv2

    if not data:
        raise VideoDecodeError("the video is empty (0 bytes)")
    handle, path = tempfile.mkstemp(prefix="facegate-video-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        capture = cv2.VideoCapture(path)
        try:
            if not capture.isOpened():
                raise VideoDecodeError("the video could not be opened (send MP4, WebM, AVI, …)")
            return _read(capture, limits)
        finally:
            capture.release()
    finally:
        os.unlink(path)


def _read(capture: Any, limits: ClipLimits) -> Clip:
    import cv2

    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width * height > limits.max_pixels:
        raise TooManyPixelsError(
            f"the video's frames are {width}x{height}; the limit is {limits.max_pixels} pixels",
            details={"width": width, "height": height, "limit_pixels": limits.max_pixels})
    longest = max(width, height, 1)
    scale = min(1.0, limits.max_side / longest) if limits.max_side > 0 else 1.0
    kept_pixels = round(width * scale) * round(height * scale)
    most = limits.max_video_frames or limits.max_frames
    counted = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    step = max(1, math.ceil(min(counted, most) / limits.max_frames)) if counted > 0 else 1
    frames: list[RGBImage] = []
    decoded = 0
    while capture.grab():
        decoded += 1
        if decoded > most:
            raise TooManyFramesError(f"the video has more than {most} frames",
                                     details={"limit_frames": most})
        if (decoded - 1) % step:
            continue
        if len(frames) >= limits.max_frames:  # the container's count was short
            step, frames = step * 2, frames[::2]
            if (decoded - 1) % step:
                continue
        _check_total(len(frames) + 1, kept_pixels, limits.max_total_pixels)
        ok, frame = capture.retrieve()
        if ok:
            frames.append(_kept(frame, scale))
    if not frames:
        raise VideoDecodeError("no frame of the video could be decoded")
    source_fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    return Clip(frames, Sampling(step=step, source_frames=decoded, source_fps=source_fps,
                                 scale=scale))


def _check_total(count: int, pixels: int, limit: int | None) -> None:
    if limit is not None and count * pixels > limit:
        raise TooManyPixelsError(f"the video's frames hold more than {limit} pixels in all",
                                 details={"limit_sequence_pixels": limit})


def _kept(bgr: Any, scale: float) -> RGBImage:
    """A decoded frame downscaled, then as RGB (cvtColor swaps the channels exactly, several
    times faster than copying a reversed view)."""
    import cv2

    if scale < 1.0:
        height, width = bgr.shape[:2]
        bgr = cv2.resize(bgr, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_AREA)
    rgb: RGBImage = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return rgb


def downscaled(rgb: RGBImage, max_side: int) -> RGBImage:
    """``rgb`` with its longer side at most ``max_side`` (area-averaged; 0: as it is)."""
    import cv2

    longest = max(rgb.shape[:2])
    if max_side <= 0 or longest <= max_side:
        return rgb
    scale = max_side / longest
    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
