"""Settings section choosing between model weights (``settings.models``), built into
``config.Settings``. Imports nothing from facegate."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ModelsSettings(BaseModel):
    #: Where the 68 landmarks come from (enrolment's second chip alignment, blink eye openness,
    #: head pose): ``mesh``, MediaPipe's face mesh + iris on ONNX Runtime (Apache-2.0 weights),
    #: or ``dlib``, dlib's ``shape_predictor_68_face_landmarks.dat``, trained on iBUG 300-W,
    #: whose terms exclude commercial use: an explicit opt-in only. ``GET /v1/system`` says
    #: which weight runs (docs/liveness.md and docs/accuracy.md compare the two).
    landmarks68: Literal["mesh", "dlib"] = "mesh"
