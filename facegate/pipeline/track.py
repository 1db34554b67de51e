"""The one face of a frame sequence, followed from frame to frame (liveness checks).

Every ``search_every``-th frame is searched; a frame between two searches, right after a frame
with exactly one face, takes that face's box (the landmarks are fitted inside it afresh), as a
face moves little in a frame or two. A frame after one without exactly one face is always
searched, so a lost face is looked for at once and a second face is counted within
``search_every`` frames. With ``search_every`` 1 every frame is searched.

A search is as a photo's (``FaceFinder.locate``, one clearly visible face wanted: HOG), unless a
``quick`` detector (BlazeFace short-range, ~5 ms on a 640 px frame against HOG's ~20) says the
face has not moved: when it finds exactly one face, and the frame before had exactly one face,
and the quick box is within ``hold`` of the quick box seen when that face's box was last found,
the box is kept. So every box still is HOG's own box (the 68-point landmark models and the
blink thresholds were fitted on HOG's boxes, which snap to a grid of about 1/10 of the face and
stay the same while a face keeps still), and HOG runs only when the face moves, is lost, or the
quick detector sees no face or several.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facegate.domain import Box, RGBImage
from facegate.pipeline.detect import Detector, FaceFinder

Found = list[tuple[Box, float]]


@dataclass(slots=True)
class FaceTrack:
    """One sequence's track (it remembers where the quick detector last saw the face)."""

    finder: FaceFinder
    search_every: int = 1
    #: Says whether the face moved (None: every searched frame runs the finder).
    quick: Detector | None = None
    #: The face is held while the quick box's centre, width and height each moved by at most
    #: this share of its side since the held box was found.
    hold: float = 0.02
    #: The quick detector's box in the frame where the held box was found.
    _anchor: Box | None = field(default=None, init=False)

    def locate(self, rgb: RGBImage, *, index: int, previous: tuple[Box, float] | None
               ) -> tuple[Found, bool]:
        """The faces of frame ``index`` (its position in the sequence) and whether the frame
        was searched (False: the box is the frame before's); ``previous``: the one face of the
        frame before, if it had exactly one."""
        if previous is not None and index % self.search_every:
            return [previous], False
        quick = self._quick(rgb)
        if len(quick) == 1 and previous is not None and self._anchor is not None \
                and near(quick[0], self._anchor, self.hold):
            return [previous], False
        found = self.finder.locate(rgb, every_face=False)
        self._anchor = quick[0] if len(quick) == 1 and len(found) == 1 else None
        return found, True

    def _quick(self, rgb: RGBImage) -> list[Box]:
        if self.quick is None:
            return []
        height, width = rgb.shape[:2]
        return [box for box, _ in self.quick.detect(rgb, upsample=0)
                if 0 <= (box.left + box.right) / 2 < width
                and 0 <= (box.top + box.bottom) / 2 < height]


def near(box: Box, anchor: Box, share: float) -> bool:
    """``box``'s centre, width and height each within ``share`` of ``anchor``'s side."""
    side = max(anchor.width, anchor.height, 1)
    shift = max(abs(box.left + box.right - anchor.left - anchor.right),
                abs(box.top + box.bottom - anchor.top - anchor.bottom)) / 2
    return shift <= share * side and abs(box.width - anchor.width) <= share * side \
        and abs(box.height - anchor.height) <= share * side
