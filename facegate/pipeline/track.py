"""The one face of a frame sequence, followed from frame to frame (liveness checks).

Every ``search_every``-th frame is searched whole, as a photo is (``FaceFinder.locate``, one
clearly visible face wanted); a frame between two searches, right after a frame with exactly
one face, takes that face's box (the landmarks are fitted inside it afresh), as a face moves
little in a frame or two. A frame after one without exactly one face is always searched, so a
lost face is looked for at once and a second face is counted within ``search_every`` frames.
With ``search_every`` 1 every frame is searched.
"""

from __future__ import annotations

from dataclasses import dataclass

from facegate.domain import Box, RGBImage
from facegate.pipeline.detect import FaceFinder

Found = list[tuple[Box, float]]


@dataclass(frozen=True, slots=True)
class FaceTrack:
    finder: FaceFinder
    search_every: int = 1

    def locate(self, rgb: RGBImage, *, index: int, previous: tuple[Box, float] | None
               ) -> tuple[Found, bool]:
        """The faces of frame ``index`` (its position in the sequence) and whether the frame
        was searched; ``previous``: the one face of the frame before, if it had exactly one."""
        if previous is not None and index % self.search_every:
            return [previous], False
        return self.finder.locate(rgb, every_face=False), True
