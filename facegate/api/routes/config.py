"""/v1/config: the settings that decide answers (threshold and where it came from, rule, the
face pipeline's options), so operators and clients can see what the server holds to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from facegate.api.deps import FacegateDep
from facegate.api.openapi import STORE, answers
from facegate.api.schemas import ConfigOut

router = APIRouter(prefix="/v1", tags=["config"])


@router.get("/config", response_model=ConfigOut, responses=answers(*STORE))
def config(facegate: FacegateDep) -> dict[str, Any]:
    """The matching threshold and its source (``default``, ``environment`` or ``calibration``),
    the open-set rule, the detection, alignment and augmentation settings, and the active
    classifier (used by identify when ``matching.classifier`` is ``active``). No secrets."""
    settings = facegate.settings
    active = facegate.store.active_classifier()
    return {
        "model": facegate.pipeline.embedder.model_name,
        "metric": "euclidean",
        "matching": {**settings.matching.model_dump(mode="json"),
                     "threshold_source": settings.threshold_source},
        "detection": settings.detection.model_dump(mode="json"),
        "alignment": settings.alignment.model_dump(mode="json"),
        "augmentation": settings.augmentation.model_dump(mode="json"),
        "active_classifier": None if active is None else {"id": active.id, "kind": active.kind},
    }
