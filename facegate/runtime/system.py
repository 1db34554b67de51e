"""What ``GET /v1/system`` and ``facegate system`` report: every model weight the settings make
facegate load, with its file, SHA-256, licence (SPDX id), runtime and provider.

The list follows the composition root's choices (``runtime/models.keys_in_use``, the same rule
``bootstrap`` wires by); each file is hashed where it is installed (once per process, by path,
size and modification time). ``weights.OPENED`` counts the files actually opened in this process:
the tests hold this list against it.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from facegate.config import Settings
from facegate.errors import ModelError
from facegate.runtime import mediapipe_weights as mediapipe
from facegate.runtime import weights
from facegate.runtime.models import BY_KEY, ModelInfo, keys_in_use
from facegate.runtime.onnx_backend import choose_providers

#: Licences every weight loaded with the default settings must have (permissive, commercial use).
PERMISSIVE = frozenset({"CC0-1.0", "Apache-2.0", "MIT", "BSD-2-Clause", "BSD-3-Clause",
                        "BSL-1.0"})
_ONNX = frozenset({"mesh", "iris", "blazeface_short"})


def loaded_models(settings: Settings, *, liveness: bool = True) -> list[dict[str, Any]]:
    """One entry per model ``settings`` load (``liveness``: with blink checks, as a server)."""
    onnx = set(_ONNX) | ({"resnet"} if settings.runtime.embedder == "onnx" else set())
    return [_entry(BY_KEY[key], settings, onnx=key in onnx)
            for key in keys_in_use(settings, liveness=liveness)]


def _entry(model: ModelInfo, settings: Settings, *, onnx: bool) -> dict[str, Any]:
    path = _path(model)
    return {"key": model.key, "role": model.role, "name": model.name, "file": model.file,
            "sha256": None if path is None else file_sha256(path),
            "licence": model.licence, "commercial_use": model.commercial_use,
            "source": model.source,
            "runtime": "onnxruntime" if onnx else "dlib",
            "provider": onnx_provider(settings) if onnx else dlib_provider()}


def _path(model: ModelInfo) -> Path | None:
    if model.file is None:
        return None
    if model.source == mediapipe.DISTRIBUTION:
        return mediapipe.tflite_path(next(w for w in mediapipe.WEIGHTS if w.file == model.file))
    return weights.locate(model.file)


def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    return digest.hexdigest()


def onnx_provider(settings: Settings) -> str:
    """The first execution provider ONNX Runtime sessions are created with."""
    import onnxruntime  # type: ignore[import-untyped]

    return choose_providers(settings.runtime.providers, onnxruntime.get_available_providers())[0]


def dlib_provider() -> str:
    import dlib

    return "CUDA" if getattr(dlib, "DLIB_USE_CUDA", False) else "CPU"
