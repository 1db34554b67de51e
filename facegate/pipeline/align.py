"""Aligned face chips: the Aligner protocol.

A chip is a 150x150 RGB crop rotated and scaled so the eyes and nose sit where the descriptor
model expects them (dlib's 5-point alignment with 25% padding).
"""

from __future__ import annotations

from typing import Protocol

from facegate.domain import RGBImage

CHIP_SIZE = 150
CHIP_PADDING = 0.25


class Aligner(Protocol):
    def chip(self, rgb: RGBImage, landmarks: tuple[tuple[float, float], ...]) -> RGBImage:
        """The aligned ``CHIP_SIZE`` x ``CHIP_SIZE`` chip of the face with these landmarks."""
        ...
