"""Video bytes → RGB frames, with limits, decoded by OpenCV (``opencv-python-headless`` ships
FFmpeg in its wheel). Frame indices are 0-based in decoding order, as OpenCV counts them."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from facegate.domain import RGBImage
from facegate.errors import TooManyFramesError, TooManyPixelsError, VideoDecodeError


def decode_video(
    data: bytes, *, max_frames: int, max_pixels: int, max_total_pixels: int | None = None
) -> tuple[list[RGBImage], float]:
    """Every frame of a short video (RGB uint8) and its frame rate (0.0 when unknown).

    VideoDecodeError when OpenCV cannot read a frame of it; TooManyFramesError past
    ``max_frames``; TooManyPixelsError when a frame is over ``max_pixels`` or all frames
    together over ``max_total_pixels`` (checked before the frame past it is kept).
    """
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
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            if width * height > max_pixels:
                raise TooManyPixelsError(
                    f"the video's frames are {width}x{height}; the limit is {max_pixels} pixels",
                    details={"width": width, "height": height, "limit_pixels": max_pixels})
            fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
            frames: list[RGBImage] = []
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                if len(frames) >= max_frames:
                    raise TooManyFramesError(
                        f"the video has more than {max_frames} frames",
                        details={"limit_frames": max_frames})
                if max_total_pixels is not None \
                        and (len(frames) + 1) * width * height > max_total_pixels:
                    raise TooManyPixelsError(
                        f"the video's frames hold more than {max_total_pixels} pixels in all",
                        details={"limit_sequence_pixels": max_total_pixels})
                frames.append(np.ascontiguousarray(frame[:, :, ::-1], dtype=np.uint8))
        finally:
            capture.release()
    finally:
        os.unlink(path)
    if not frames:
        raise VideoDecodeError("no frame of the video could be decoded")
    return frames, fps
