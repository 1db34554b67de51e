"""Real video for Chromium's fake webcam: ``.y4m`` files (YUV 4:2:0, BT.601 full range) made at
test time from real photos or a real clip's frames, for
``--use-file-for-fake-video-capture``. Chromium loops the file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 640, 480


def fit(photo: Image.Image, *, scale: float = 1.0, dx: int = 0, dy: int = 0) -> Image.Image:
    """``photo`` centred on a grey 640x480 frame, as large as fits times ``scale``, moved by
    (dx, dy) pixels."""
    rgb = photo.convert("RGB")
    ratio = min(WIDTH / rgb.width, HEIGHT / rgb.height) * scale
    resized = rgb.resize((max(1, round(rgb.width * ratio)), max(1, round(rgb.height * ratio))))
    frame = Image.new("RGB", (WIDTH, HEIGHT), (128, 128, 128))
    frame.paste(resized, ((WIDTH - resized.width) // 2 + dx, (HEIGHT - resized.height) // 2 + dy))
    return frame


def _planes(frame: Image.Image) -> bytes:
    rgb = np.asarray(frame.convert("RGB"), dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    v = 0.5 * r - 0.418688 * g - 0.081312 * b + 128

    def sub(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(HEIGHT // 2, 2, WIDTH // 2, 2).mean(axis=(1, 3))

    return b"".join(np.clip(p, 0, 255).round().astype(np.uint8).tobytes()
                    for p in (y, sub(u), sub(v)))


def write_y4m(frames: Iterable[Image.Image], path: Path, *, fps: int = 30) -> Path:
    """Write 640x480 ``frames`` (any size: each is fitted) as a y4m video at ``fps``."""
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            if frame.size != (WIDTH, HEIGHT):
                frame = fit(frame)
            out.write(b"FRAME\n" + _planes(frame))
    return path


def photo_clip(photo: Path, path: Path, *, seconds: float = 2.0, fps: int = 15) -> Path:
    """A real photo held in front of the camera: it drifts a few pixels, as a hand-held
    picture does (a still image: a print attack for liveness)."""
    image = Image.open(photo)
    count = int(seconds * fps)
    frames = (fit(image, scale=0.9, dx=round(6 * np.sin(i / 5)), dy=round(4 * np.cos(i / 7)))
              for i in range(count))
    return write_y4m(frames, path, fps=fps)


def frames_clip(files: list[Path], path: Path, *, fps: int = 30) -> Path:
    """A real clip's frames, in order."""
    return write_y4m((fit(Image.open(f)) for f in files), path, fps=fps)
