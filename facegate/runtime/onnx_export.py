"""Convert dlib's face-recognition ResNet to an ONNX graph, once, into a cache folder.

The graph takes ``chips``: uint8 ``[N, 150, 150, 3]`` RGB (aligned chips exactly as the Aligner
returns them) and gives ``descriptors``: float32 ``[N, 128]``. dlib's input normalisation,
``(pixel - channel mean) / 256``, runs inside the graph. The per-channel affine layer after each
convolution is folded into that convolution's weights and bias (``w * gamma``,
``b * gamma + beta``, computed in float64).

Nothing is downloaded: the source is the installed ``.dat`` (``runtime/weights.py``). The cache
holds ``<name>.onnx`` and ``<name>.sha256`` (JSON: SHA-256 of the source and of the ONNX file, and
the converter version); both are written to a temporary file and renamed into place, so a reader
never sees half a file, and the model is rebuilt whenever any of the three does not match.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from facegate.errors import ModelError
from facegate.runtime.dlib_format import (
    AddPrev,
    Affine,
    Conv,
    DlibNetwork,
    Fc,
    InputRGB,
    Layer,
    Pool,
    Relu,
    Skip,
    Tag,
    parse_network,
)
from facegate.runtime.model_cache import cached_conversion
from facegate.runtime.weights import FACE_RECOGNITION_RESNET, weights_path

logger = logging.getLogger(__name__)

MODEL_STEM = "dlib_face_recognition_resnet_model_v1"
#: Bumped whenever the generated graph changes; a cached model from another version is rebuilt.
CONVERTER_VERSION = 1
OPSET = 17
INPUT_NAME = "chips"
OUTPUT_NAME = "descriptors"

Shape = tuple[int, int, int]  # channels, rows, cols of one sample


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, hint: str, array: NDArray[Any]) -> str:
        name = f"{hint}_{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        output = f"{op_type.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, inputs, [output], **attrs))
        return output


def build_model(network: DlibNetwork, *, fold_affine: bool = True) -> onnx.ModelProto:
    """The ONNX model computing the same descriptors as dlib for a batch of uint8 RGB chips."""
    first, *layers = fold_affine_layers(network.layers) if fold_affine else network.layers
    if not isinstance(first, InputRGB):
        raise ModelError("the dlib network does not start with an RGB input layer")
    graph = _Graph()
    current, shape = _normalise(graph, first), (3, first.rows, first.cols)
    tags: dict[int, tuple[str, Shape]] = {}
    for layer in layers:
        current, shape = _emit(graph, layer, current, shape, tags)
    if not layers or not isinstance(layers[-1], Fc):
        raise ModelError("the dlib network does not end with a fully connected layer")
    inputs = [helper.make_tensor_value_info(
        INPUT_NAME, TensorProto.UINT8, ["batch", first.rows, first.cols, 3])]
    outputs = [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", shape[0]])]
    graph.nodes.append(helper.make_node("Identity", [current], [OUTPUT_NAME]))
    model = helper.make_model(
        helper.make_graph(graph.nodes, "dlib_resnet_v1", inputs, outputs, graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="facegate",
        producer_version=str(CONVERTER_VERSION),
    )
    model.ir_version = 8  # readable by every ONNX Runtime that supports opset 17
    onnx.checker.check_model(model)
    return model


def fold_affine_layers(layers: tuple[Layer, ...]) -> tuple[Layer, ...]:
    """Merge each affine layer into the convolution right before it (computed in float64)."""
    folded: list[Layer] = []
    for layer in layers:
        previous = folded[-1] if folded else None
        if isinstance(layer, Affine) and isinstance(previous, Conv):
            gamma, beta = layer.gamma.astype(np.float64), layer.beta.astype(np.float64)
            weights = previous.weights.astype(np.float64) * gamma[:, None, None, None]
            bias = previous.bias.astype(np.float64) * gamma + beta
            folded[-1] = Conv(weights.astype(np.float32), bias.astype(np.float32),
                              previous.stride, previous.padding)
        else:
            folded.append(layer)
    return tuple(folded)


def _normalise(graph: _Graph, layer: InputRGB) -> str:
    """uint8 NHWC → float32 NCHW, (value - mean) / 256 as dlib's input_rgb_image_sized does."""
    pixels = graph.op("Transpose", [graph.op("Cast", [INPUT_NAME], to=TensorProto.FLOAT)],
                      perm=[0, 3, 1, 2])
    mean = np.asarray(layer.mean_rgb, dtype=np.float32).reshape(1, 3, 1, 1)
    centred = graph.op("Sub", [pixels, graph.const("mean", mean)])
    scale = np.asarray(1.0 / 256.0, dtype=np.float32)  # exact: a power of two
    return graph.op("Mul", [centred, graph.const("scale", scale)])


def _emit(graph: _Graph, layer: Layer, current: str, shape: Shape,
          tags: dict[int, tuple[str, Shape]]) -> tuple[str, Shape]:
    if isinstance(layer, Conv):
        return _conv(graph, layer, current, shape)
    if isinstance(layer, Affine):
        gamma = graph.const("gamma", layer.gamma.reshape(1, -1, 1, 1))
        beta = graph.const("beta", layer.beta.reshape(1, -1, 1, 1))
        return graph.op("Add", [graph.op("Mul", [current, gamma]), beta]), shape
    if isinstance(layer, Relu):
        return graph.op("Relu", [current]), shape
    if isinstance(layer, Pool):
        return _pool(graph, layer, current, shape)
    if isinstance(layer, Tag):
        tags[layer.id] = (current, shape)
        return current, shape
    if isinstance(layer, Skip | AddPrev):
        tag = layer.id if isinstance(layer, Skip) else layer.tag
        if tag not in tags:
            raise ModelError(f"dlib network refers to tag{tag} before it is set")
        if isinstance(layer, Skip):
            return tags[tag]
        return _add(graph, (current, shape), tags[tag])
    if isinstance(layer, Fc):
        if shape[0] * shape[1] * shape[2] != layer.weights.shape[0]:
            raise ModelError(f"fully connected layer expects {layer.weights.shape[0]} inputs")
        flat = graph.op("Flatten", [current], axis=1)
        return graph.op("MatMul", [flat, graph.const("fc", layer.weights)]), (
            layer.weights.shape[1], 1, 1)
    raise ModelError(f"cannot convert dlib layer {type(layer).__name__} here")


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    if kernel > size + 2 * pad:
        raise ModelError(f"a {kernel}-wide window does not fit a {size}-wide input")
    return 1 + (size + 2 * pad - kernel) // stride


def _conv(graph: _Graph, layer: Conv, current: str, shape: Shape) -> tuple[str, Shape]:
    filters, channels, rows, cols = layer.weights.shape
    if channels != shape[0]:
        raise ModelError(f"convolution expects {channels} channels, gets {shape[0]}")
    (pad_y, pad_x), (stride_y, stride_x) = layer.padding, layer.stride
    output = graph.op(
        "Conv", [current, graph.const("w", layer.weights), graph.const("b", layer.bias)],
        kernel_shape=[rows, cols], strides=[stride_y, stride_x],
        pads=[pad_y, pad_x, pad_y, pad_x],
    )
    return output, (filters, _out_size(shape[1], rows, stride_y, pad_y),
                    _out_size(shape[2], cols, stride_x, pad_x))


def _pool(graph: _Graph, layer: Pool, current: str, shape: Shape) -> tuple[str, Shape]:
    rows = layer.size[0] or shape[1]
    cols = layer.size[1] or shape[2]
    (pad_y, pad_x), (stride_y, stride_x) = layer.padding, layer.stride
    out = (shape[0], _out_size(shape[1], rows, stride_y, pad_y),
           _out_size(shape[2], cols, stride_x, pad_x))
    if out[1:] == (1, 1) and (rows, cols) == shape[1:] and (pad_y, pad_x) == (0, 0):
        return graph.op("GlobalAveragePool" if layer.kind == "avg" else "GlobalMaxPool",
                        [current]), out
    attrs: dict[str, Any] = {"kernel_shape": [rows, cols], "strides": [stride_y, stride_x],
                                "pads": [pad_y, pad_x, pad_y, pad_x]}
    if layer.kind == "avg":  # dlib averages only the pixels inside the image
        return graph.op("AveragePool", [current], count_include_pad=0, **attrs), out
    return graph.op("MaxPool", [current], **attrs), out


def _add(graph: _Graph, first: tuple[str, Shape], second: tuple[str, Shape]) -> tuple[str, Shape]:
    """dlib's add_prev: the sum over the larger size, the smaller input zero-padded at the end."""
    target: Shape = (max(first[1][0], second[1][0]), max(first[1][1], second[1][1]),
                     max(first[1][2], second[1][2]))
    names = [_pad_to(graph, name, shape, target) for name, shape in (first, second)]
    return graph.op("Add", names), target


def _pad_to(graph: _Graph, name: str, shape: Shape, target: Shape) -> str:
    if shape == target:
        return name
    ends = [0, target[0] - shape[0], target[1] - shape[1], target[2] - shape[2]]
    pads = graph.const("pads", np.asarray([0, 0, 0, 0, *ends], dtype=np.int64))
    return graph.op("Pad", [name, pads], mode="constant")


def default_cache_dir() -> Path:
    """``$FACEGATE_MODEL_CACHE``, else ``~/.cache/facegate/models``."""
    configured = os.environ.get("FACEGATE_MODEL_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache/facegate/models"


def ensure_onnx_model(cache_dir: Path | None = None, *, source: Path | None = None) -> Path:
    """Path of the converted model in ``cache_dir``, converting it first when needed."""
    folder = cache_dir or default_cache_dir()
    load_onnx_model(folder, source=source, required_on_disk=True)
    return folder / f"{MODEL_STEM}.onnx"


def load_onnx_model(cache_dir: Path | None = None, *, source: Path | None = None,
                    required_on_disk: bool = False) -> bytes:
    """The converted model's bytes, checked against the cache's checksums or freshly converted.

    When the cache folder cannot be written the model is converted in memory (logged as a
    warning) unless ``required_on_disk``, in which case ModelError is raised.
    """
    folder = cache_dir or default_cache_dir()
    source = source or weights_path(FACE_RECOGNITION_RESNET)
    try:
        source_bytes = source.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read dlib model {source}: {exc}") from exc
    return cached_conversion(
        folder, MODEL_STEM, source_bytes, CONVERTER_VERSION,
        lambda data: bytes(build_model(parse_network(data)).SerializeToString()),
        source_name=source.name, required_on_disk=required_on_disk)
