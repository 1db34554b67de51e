"""Cheap face-quality signals computed from the aligned chip (no learned model)."""

from __future__ import annotations

import numpy as np

from facegate.domain import Box, FaceQuality, RGBImage


def assess(chip: RGBImage, box: Box) -> FaceQuality:
    grey = chip.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    laplacian = (
        grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4.0 * grey[1:-1, 1:-1]
    )
    return FaceQuality(
        size_px=min(box.width, box.height),
        sharpness=round(float(laplacian.var()), 2),
        brightness=round(float(grey.mean()), 2),
    )
