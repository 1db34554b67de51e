"""The landmark models as converted for speed compute the same bits as converted plainly.

The converter writes TFLite's PRELU as ``max(x, x * slope)`` or Relu, Sub, Mul, Add (ONNX
Runtime's PRelu has no blocked-layout kernel: it was most of a face-mesh pass) and gives the
landmark models a dynamic batch (the iris model reads both eyes in one call). Neither may move
a single point: on real
face and eye crops from registry photos, each output equals, bit for bit, that of the graph
converted with ONNX's own PRelu and a batch of 1, and a batch of crops equals its crops run
one by one; ``IrisRefiner.eyes`` (both eyes at once) equals ``eye`` (one at a time).
The annotated clips' openness and blinks against the plain conversion:
``tests/test_liveness_read.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from facegate.bootstrap import shared_models
from facegate.runtime.face_mesh import FaceMesh, open_session
from facegate.runtime.mediapipe_weights import FACE_MESH, IRIS, MediapipeWeight, read_tflite
from facegate.runtime.mesh_eyes import _CORNERS, IrisRefiner, eye_roi
from facegate.runtime.tflite_format import parse_model
from facegate.runtime.tflite_onnx import build_model
from runtime.mediapipe_inputs import load_photos, model_inputs


def _session(model: onnx.ModelProto, folder: Path) -> Any:
    import onnxruntime  # type: ignore[import-untyped]

    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("weight", [FACE_MESH, IRIS], ids=lambda w: w.key)
def test_fast_prelu_moves_nothing_and_a_batch_is_its_crops(
        weight: MediapipeWeight, faces: Path, tmp_path: Path) -> None:
    graph = parse_model(read_tflite(weight))
    plain = build_model(graph, weight.key, fast_prelu=False)
    assert any(node.op_type == "PRelu" for node in plain.graph.node)
    fast_model = build_model(graph, weight.key, dynamic_batch=True)
    assert not any(node.op_type == "PRelu" for node in fast_model.graph.node)
    (tmp_path / "plain").mkdir()
    reference = _session(plain, tmp_path / "plain")
    fast = open_session(weight, tmp_path, ["CPUExecutionProvider"], 1)  # as the server loads it
    inputs = model_inputs(weight, load_photos(faces))
    assert len(inputs) >= 4
    one_by_one = []
    for tensor in inputs:
        expected = reference.run(None, {"input_1": tensor})
        got = fast.run(None, {"input_1": tensor})
        assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True))
        one_by_one.append(got)
    batched = fast.run(None, {"input_1": np.concatenate(inputs)})
    for index, output in enumerate(batched):
        assert np.array_equal(output, np.concatenate([single[index] for single in one_by_one]))


def test_both_eyes_in_one_call_are_each_eye_alone(faces: Path, tmp_path: Path) -> None:
    mesh, refiner = FaceMesh(cache_dir=tmp_path), IrisRefiner(cache_dir=tmp_path)
    checked = 0
    for rgb in load_photos(faces):
        for box, _ in shared_models().detect(rgb, upsample=1):
            points = mesh.mesh(rgb, box).points
            rois = [(eye_roi(points, _CORNERS[0]), False), (eye_roi(points, _CORNERS[1]), True)]
            together = refiner.eyes(rgb, rois)
            for (roi, mirrored), (contour, iris) in zip(rois, together, strict=True):
                alone = refiner.eye(rgb, roi, mirrored=mirrored)
                assert np.array_equal(contour, alone[0]) and np.array_equal(iris, alone[1])
            checked += 1
    assert checked >= 4
