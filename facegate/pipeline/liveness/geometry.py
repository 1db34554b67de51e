"""Per-frame measures from dlib's 68 landmarks: eye openness, mouth, head pose.

Landmark numbering is dlib's (iBUG 300-W), 0-based: jaw 0-16, nose 27-35 (tip 30), the person's
right eye 36-41 (on the image's left in an unmirrored photo), left eye 42-47, outer lips 48-59,
inner lips 60-67.

Eye openness is one of two measures, by where the points come from: ``ear``, the eye aspect ratio
of the 68 points (dlib's model), or ``lid_iris``, the lid gap over the iris diameter that a
landmarker with an iris model gives beside its points (``EyeLandmarker68``; the face mesh +
iris, ``runtime/mesh_eyes.lid_gap_over_iris``). Each has its own cuts (``STILL_CLOSED`` here,
``blinks.rules_for`` for sequences).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from facegate.domain import Box, RGBImage

Landmarks68 = NDArray[np.float64]  # shape (68, 2), image pixels (x, y)

#: A still (no sequence to compare with) has its eyes closed when the more closed eye's aspect
#: ratio is under this: the usual value in the blink literature (0.2-0.25; see docs/liveness.md
#: for how it separates ``../shared/faces/eyes``).
STILL_CLOSED_EAR = 0.25
#: The same for the lid gap over the iris diameter (mesh + iris): ``../shared/faces/eyes``'s
#: lowest open still 0.543, highest closed 0.434 (docs/liveness.md); the cut halfway.
STILL_CLOSED_LID_IRIS = 0.49

EyeMeasure = Literal["ear", "lid_iris"]
STILL_CLOSED: dict[EyeMeasure, float] = {"ear": STILL_CLOSED_EAR,
                                         "lid_iris": STILL_CLOSED_LID_IRIS}

RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)

#: A generic head (millimetres, x to the image's right, y up, z towards the camera) for the
#: points fitted by ``head_pose``: nose tip, chin, outer eye corners, mouth corners.
_POSE_POINTS = (30, 8, 36, 45, 48, 54)
_HEAD_MODEL = np.array([
    (0.0, 0.0, 0.0), (0.0, -330.0, -65.0), (-225.0, 170.0, -135.0), (225.0, 170.0, -135.0),
    (-150.0, -150.0, -125.0), (150.0, -150.0, -125.0)], dtype=np.float64)


class Landmarker68(Protocol):
    def landmarks68(self, rgb: RGBImage, box: Box) -> Landmarks68:
        """The 68 landmarks of the face in ``box``, shape (68, 2), image pixels."""
        ...


@runtime_checkable
class EyeLandmarker68(Landmarker68, Protocol):
    def landmarks68_eyes(self, rgb: RGBImage, box: Box
                         ) -> tuple[Landmarks68, tuple[float, float] | None]:
        """The 68 landmarks and (right, left) eye openness of the landmarker's own measure
        (``lid_iris``), or None when it has none (the EAR of the points is used)."""
        ...


@dataclass(frozen=True, slots=True)
class FaceGeometry:
    """What one frame's landmarks say. Openness is ``eye_measure``: the eye aspect ratio (lid
    gap over eye width: about 0.25-0.35 open, under 0.2 closed for most people) or the lid gap
    over the iris diameter (about 0.8-1.0 open); compared per sequence."""

    right_eye: float
    left_eye: float
    #: Inner-lip gap over mouth width: about 0 closed, over 0.3 wide open.
    mouth_open: float
    #: Mouth width over the distance between the outer eye corners (grows with a smile).
    mouth_width: float
    #: Degrees; positive when the person turns to *their* left (nose to the image's right in
    #: an unmirrored camera frame), from a scaled-orthographic fit of a generic head.
    yaw: float
    #: Degrees; positive when the person looks up.
    pitch: float
    eye_measure: EyeMeasure = "ear"


def eyes_closed_still(geometry: FaceGeometry) -> bool:
    """One photo's verdict (a sequence is judged against its own baseline instead)."""
    return min(geometry.right_eye, geometry.left_eye) < STILL_CLOSED[geometry.eye_measure]


def eye_aspect_ratio(eye: Landmarks68) -> float:
    """(|p2-p6| + |p3-p5|) / (2 |p1-p4|) of one eye's six points (Soukupová & Čech, 2016)."""
    width = float(np.linalg.norm(eye[0] - eye[3]))
    if width <= 0.0:
        return 0.0
    gaps = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    return float(gaps / (2.0 * width))


def head_pose(points: Landmarks68) -> tuple[float, float]:
    """(yaw, pitch) in degrees: a least-squares scaled-orthographic fit (the affine camera
    behind solvePnP's first step) of ``_HEAD_MODEL`` to six landmarks."""
    image = points[list(_POSE_POINTS)] * np.array([1.0, -1.0])  # y up, like the model
    model = _HEAD_MODEL - _HEAD_MODEL.mean(axis=0)
    image = image - image.mean(axis=0)
    affine, *_ = np.linalg.lstsq(model, image, rcond=None)  # model @ affine ≈ image
    first, second = affine[:, 0], affine[:, 1]
    first = first / np.linalg.norm(first)
    second = second - first * float(first @ second)
    second = second / np.linalg.norm(second)
    yaw = float(np.degrees(np.arcsin(np.clip(first[2], -1.0, 1.0))))
    pitch = float(np.degrees(np.arcsin(np.clip(-second[2], -1.0, 1.0))))
    return yaw, pitch


def measure(points: Landmarks68, eyes: tuple[float, float] | None = None) -> FaceGeometry:
    """The frame's measures; ``eyes``: (right, left) lid gap over iris diameter, when the
    landmarker gave them (else each eye's aspect ratio)."""
    eye_span = float(np.linalg.norm(points[36] - points[45])) or 1.0
    mouth_span = float(np.linalg.norm(points[60] - points[64])) or 1.0
    gap = float(np.mean([np.linalg.norm(points[61 + i] - points[67 - i]) for i in range(3)]))
    yaw, pitch = head_pose(points)
    right, left = eyes or (eye_aspect_ratio(points[RIGHT_EYE]),
                           eye_aspect_ratio(points[LEFT_EYE]))
    return FaceGeometry(
        right_eye=right, left_eye=left,
        mouth_open=gap / mouth_span,
        mouth_width=float(np.linalg.norm(points[48] - points[54])) / eye_span,
        yaw=yaw, pitch=pitch, eye_measure="ear" if eyes is None else "lid_iris",
    )
