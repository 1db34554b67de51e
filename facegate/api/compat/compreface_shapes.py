"""CompreFace's answer shapes built from facegate's faces, and the three mappings they need
(docs/compat.md):

- ``image_id``: a facegate face id is a UUID's 32 hex digits, so the image id is the same UUID
  written CompreFace's way (``6b135f5b-a365-...``): stable, nothing stored, and reversible. An id
  that is not hex (none facegate makes) is named by ``uuid5`` of it.
- ``similarity``: ``similarity.score`` with ``COMPREFACE_AT_THRESHOLD`` (facegate's threshold
  lands on 0.60, Double Take's match cut), floored to 4 decimals so a face facegate calls
  unknown never reads as a match after a client rounds (Double Take: ``(s * 100).toFixed(2)``).
- ``probability``: facegate's detector has already refused what is not a face; its score (an
  SVM margin, about 0 at the edge) maps to ``1 - 0.1 * exp(-score)``: every face it reports is
  at least 0.90 (Double Take's ``det_prob_threshold`` 0.8 keeps them all), surer ones nearer 1.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

from facegate.api.compat.similarity import COMPREFACE_AT_THRESHOLD, score
from facegate.domain import Face, Timings

_HEX32 = re.compile(r"[0-9a-f]{32}")
#: Names facegate ids that are not a UUID's hex (none of its own are).
_NAMESPACE = uuid.UUID("9a4c7c5e-3f0b-4a43-9d6e-6b2f1c0e5a10")
#: What ``status=true`` reports as the plugins' versions.
PLUGIN_VERSIONS = {"detector": "facegate.dlib-hog", "calculator": "facegate.dlib_resnet_v1"}


def image_id(face_id: str) -> str:
    if _HEX32.fullmatch(face_id):
        return str(uuid.UUID(hex=face_id))
    return str(uuid.uuid5(_NAMESPACE, face_id))


def face_id_guess(image: str) -> str | None:
    """The facegate face id an image id names when it is a UUID (None: not a UUID)."""
    try:
        return uuid.UUID(image.strip()).hex
    except ValueError:
        return None


def similarity(distance: float, threshold: float) -> float:
    value = score(distance, threshold=threshold, at_threshold=COMPREFACE_AT_THRESHOLD)
    return math.floor(value * 10_000) / 10_000


def probability(detection_score: float) -> float:
    return round(1.0 - 0.1 * math.exp(-max(0.0, detection_score)), 5)


def box(face: Face) -> dict[str, Any]:
    found = face.detection.box
    return {"probability": probability(face.detection.score), "x_max": int(found.right),
            "y_max": int(found.bottom), "x_min": int(found.left), "y_min": int(found.top)}


def execution_time(timings: Timings) -> dict[str, float]:
    stages = timings.stages
    took = {"detector": round(stages.get("decode", 0.0) + stages.get("detect", 0.0), 1)}
    if "embed" in stages:  # the calculator ran: its alignment and embedding
        took["calculator"] = round(stages.get("align", 0.0) + stages.get("landmarks", 0.0)
                                   + stages["embed"], 1)
    return took


def face_view(face: Face, plugins: frozenset[str], timings: Timings | None = None,
              **extra: Any) -> dict[str, Any]:
    """One face as CompreFace writes it: ``box``, the asked plugins' keys, ``extra`` (subjects,
    similarity), and ``execution_time`` when ``timings`` are given (``status=true``)."""
    out: dict[str, Any] = {"box": box(face)}
    if "landmarks" in plugins:
        out["landmarks"] = [[int(round(x)), int(round(y))] for x, y in face.detection.landmarks]
    if "calculator" in plugins:
        out["embedding"] = [float(v) for v in face.descriptor]
    out.update(extra)
    if timings is not None:
        out["execution_time"] = execution_time(timings)
    return out


def biggest(faces: list[Any], limit: int, face_of: Any = lambda f: f) -> list[Any]:
    """At most ``limit`` of ``faces`` (0: all), the biggest kept, in their own order."""
    if limit <= 0 or len(faces) <= limit:
        return faces
    ranked = sorted(range(len(faces)), key=lambda i: -face_of(faces[i]).detection.box.area)
    keep = set(ranked[:limit])
    return [f for i, f in enumerate(faces) if i in keep]


def sure_enough(faces: list[Any], threshold: float | None, face_of: Any = lambda f: f) -> list[Any]:
    """The faces whose ``probability`` is at least ``det_prob_threshold`` (None: all)."""
    if threshold is None:
        return faces
    return [f for f in faces if probability(face_of(f).detection.score) >= threshold]


def answer(result: list[dict[str, Any]], *, status: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"result": result}
    if status:
        out["plugins_versions"] = dict(PLUGIN_VERSIONS)
    return out
