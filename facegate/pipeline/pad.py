"""Padding small photos before detection: tight face crops (LFW's 150x150) have no margin around
the face, which HOG's sliding window needs. ``PadSmall`` wraps a Detector so photos up to
``max_side`` are scanned on a copy padded with black, and the boxes are mapped back (landmarks and
chips are then taken on the original: dlib reads outside pixels as black, the same as the pad).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegate.domain import Box, RGBImage
from facegate.pipeline.detect import Detector


@dataclass(frozen=True, slots=True)
class PadSmall:
    """A Detector that pads photos up to ``max_side`` by ``fraction`` of each side first."""

    inner: Detector
    fraction: float = 0.5
    max_side: int = 320

    def detect(self, rgb: RGBImage, *, upsample: int) -> list[tuple[Box, float]]:
        if self.fraction <= 0 or max(rgb.shape[:2]) > self.max_side:
            return self.inner.detect(rgb, upsample=upsample)
        pad_y, pad_x = (max(1, round(side * self.fraction / 2)) for side in rgb.shape[:2])
        padded = np.pad(rgb, ((pad_y, pad_y), (pad_x, pad_x), (0, 0)), mode="constant")
        return [(Box(b.left - pad_x, b.top - pad_y, b.right - pad_x, b.bottom - pad_y), score)
                for b, score in self.inner.detect(padded, upsample=upsample)]
