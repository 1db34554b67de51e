"""Convert a float TensorFlow Lite graph (``runtime/tflite_format.py``) to ONNX.

Operators used by the MediaPipe models facegate converts (counted with LiteRT's interpreter):

- ``face_landmark`` (468-point mesh): CONV_2D, DEPTHWISE_CONV_2D, ADD, PRELU, MAX_POOL_2D, PAD
  (PRELU is written as Relu, Sub, Mul, Add: the same bits, twice as fast: ``_prelu``).
- ``iris_landmark``: the same and RESHAPE.
- BlazeFace ``face_detection_short_range`` / ``front`` / ``back``: DEQUANTIZE (float16 weights),
  CONV_2D, DEPTHWISE_CONV_2D, RELU, ADD, MAX_POOL_2D, PAD, RESHAPE, CONCATENATION.
- BlazeFace ``face_detection_full_range``: the same and RESIZE_BILINEAR, without CONCATENATION.
- (``full_range_sparse`` stores sparse weights with DENSIFY and DEPTH_TO_SPACE: not converted.)

All of these plus RELU6 and fused RELU / RELU6 / RELU_N1_TO_1 activations are converted; any
other operator raises ModelError. TFLite is NHWC, ONNX's Conv NCHW: 4-D activations are kept
NCHW inside the graph and transposed back only where an operator needs the TFLite layout
(RESHAPE, a graph output); weights are transposed and float16 ones dequantized to float32 at
conversion time. Padding SAME is written out as explicit pads (TFLite puts the odd pixel after,
like ONNX's SAME_UPPER). The ONNX graph keeps the TFLite input (float32 NHWC, batch 1) and output
names and shapes, so one input gives the same outputs on either runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from facegate.errors import ModelError
from facegate.runtime.tflite_format import (
    Operator,
    TfliteModel,
    option_byte,
    option_int,
)

OPSET = 17
_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
_ACTIVATIONS = {1: ("Relu", None), 2: ("Clip", (-1.0, 1.0)), 3: ("Clip", (0.0, 6.0))}


class _Converter:
    def __init__(self, model: TfliteModel, fast_prelu: bool = True,
                 dynamic_batch: bool = False) -> None:
        self.model = model
        self.fast_prelu = fast_prelu
        self.dynamic_batch = dynamic_batch
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.consts: dict[int, NDArray[Any]] = {
            i: t.data for i, t in enumerate(model.tensors) if t.data is not None}
        self.values: dict[int, tuple[str, bool]] = {}  # tensor → (ONNX name, is NCHW)
        self._views: dict[tuple[int, bool], str] = {}

    def const(self, array: NDArray[Any]) -> str:
        name = f"c{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        output = f"{op_type.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, inputs, [output], **attrs))
        return output

    def rank(self, index: int) -> int:
        return len(self.model.tensors[index].shape)

    def view(self, index: int, nchw: bool) -> str:
        """Tensor ``index`` in NCHW (``nchw``) or in its TFLite layout."""
        key = (index, nchw)
        if key not in self._views:
            self._views[key] = self._make_view(index, nchw)
        return self._views[key]

    def _make_view(self, index: int, nchw: bool) -> str:
        if index in self.consts:
            array = self.consts[index]
            if nchw:
                array = array.reshape((1,) * (4 - array.ndim) + array.shape).transpose(_TO_NCHW)
            return self.const(array)
        if index not in self.values:
            raise ModelError(f"tensor {self.model.tensors[index].name!r} is used before it is set")
        name, is_nchw = self.values[index]
        if is_nchw == nchw:
            return name
        if self.rank(index) != 4:
            raise ModelError("only 4-D tensors change layout")
        return self.op("Transpose", [name], perm=_TO_NCHW if nchw else _TO_NHWC)

    def any_nchw(self, indices: tuple[int, ...]) -> bool:
        return any(self.values.get(i, ("", False))[1] for i in indices)

    def set(self, index: int, name: str, nchw: bool) -> None:
        self.values[index] = (name, nchw)

    def activate(self, name: str, code: int) -> str:
        if code == 0:
            return name
        if code not in _ACTIVATIONS:
            raise ModelError(f"fused activation {code} is not supported")
        op_type, bounds = _ACTIVATIONS[code]
        if bounds is None:
            return self.op(op_type, [name])
        low, high = (self.const(np.asarray(b, np.float32)) for b in bounds)
        return self.op(op_type, [name, low, high])


def build_model(model: TfliteModel, graph_name: str, *, fast_prelu: bool = True,
                dynamic_batch: bool = False) -> onnx.ModelProto:
    """The ONNX model computing the same outputs as the TFLite graph ``model``
    (``fast_prelu`` False: PRELU as ONNX's PRelu, slower, for benchmarks to compare;
    ``dynamic_batch``: inputs and outputs take any batch size, each item computed exactly as
    alone, so one call can run several crops)."""
    converter = _Converter(model, fast_prelu, dynamic_batch)
    inputs = []
    for index in model.inputs:
        tensor = model.tensors[index]
        if tensor.dtype is not np.float32:
            raise ModelError(f"input {tensor.name!r} is not float32")
        converter.set(index, tensor.name, False)
        inputs.append(helper.make_tensor_value_info(tensor.name, TensorProto.FLOAT,
                                                    _shape(converter, tensor.shape)))
    for operator in model.operators:
        emit = _EMITTERS.get(operator.op)
        if emit is None:
            raise ModelError(f"TFLite operator {operator.op} is not supported")
        emit(converter, operator)
    outputs = []
    for index in model.outputs:
        tensor = model.tensors[index]
        converter.nodes.append(helper.make_node(
            "Identity", [converter.view(index, False)], [tensor.name]))
        outputs.append(helper.make_tensor_value_info(tensor.name, TensorProto.FLOAT,
                                                     _shape(converter, tensor.shape)))
    onnx_model = helper.make_model(
        helper.make_graph(converter.nodes, graph_name, inputs, outputs, converter.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="facegate")
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model)
    return onnx_model


def _shape(converter: _Converter, shape: tuple[int, ...]) -> list[int | str]:
    """A graph input's or output's shape, its batch named when the batch is dynamic."""
    if converter.dynamic_batch and len(shape) > 1 and shape[0] == 1:
        return ["batch", *shape[1:]]
    return list(shape)


def _weights(converter: _Converter, index: int) -> NDArray[Any]:
    if index not in converter.consts:
        raise ModelError(f"weights {converter.model.tensors[index].name!r} are not constant")
    return converter.consts[index].astype(np.float32)


def _pads(size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
          dilation: tuple[int, int], same: bool) -> list[int]:
    """ONNX pads ``[top, left, bottom, right]`` for TFLite's SAME (odd pixel after) or VALID."""
    if not same:
        return [0, 0, 0, 0]
    total = []
    for n, k, s, d in zip(size, kernel, stride, dilation, strict=True):
        out = -(-n // s)
        total.append(max((out - 1) * s + (k - 1) * d + 1 - n, 0))
    return [total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2]


def _conv(converter: _Converter, operator: Operator) -> None:
    depthwise = operator.op == "DEPTHWISE_CONV_2D"
    options = operator.options
    x, w_index = operator.inputs[0], operator.inputs[1]
    weights = _weights(converter, w_index)  # OHWI, or 1HWO for depthwise
    channels = converter.model.tensors[x].shape[3]
    kernel = (weights.shape[1], weights.shape[2])
    stride = (option_int(options, 2, 1), option_int(options, 1, 1))
    dilation = ((option_int(options, 6, 1), option_int(options, 5, 1)) if depthwise
                else (option_int(options, 5, 1), option_int(options, 4, 1)))
    size = converter.model.tensors[x].shape[1:3]
    inputs = [converter.view(x, True),
              converter.const(weights.transpose(3, 0, 1, 2) if depthwise
                              else weights.transpose(0, 3, 1, 2))]
    if len(operator.inputs) > 2 and operator.inputs[2] >= 0:
        inputs.append(converter.const(_weights(converter, operator.inputs[2])))
    pads = _pads((size[0], size[1]), kernel, stride, dilation, option_byte(options, 0) == 0)
    output = converter.op("Conv", inputs, kernel_shape=list(kernel), strides=list(stride),
                          dilations=list(dilation), pads=pads,
                          group=channels if depthwise else 1)
    converter.set(operator.outputs[0],
                  converter.activate(output, option_byte(options, 4 if depthwise else 3)), True)


def _max_pool(converter: _Converter, operator: Operator) -> None:
    options, x = operator.options, operator.inputs[0]
    kernel = (option_int(options, 4, 1), option_int(options, 3, 1))
    stride = (option_int(options, 2, 1), option_int(options, 1, 1))
    size = converter.model.tensors[x].shape[1:3]
    pads = _pads((size[0], size[1]), kernel, stride, (1, 1), option_byte(options, 0) == 0)
    output = converter.op("MaxPool", [converter.view(x, True)], kernel_shape=list(kernel),
                          strides=list(stride), pads=pads)
    converter.set(operator.outputs[0], converter.activate(output, option_byte(options, 5)), True)


def _binary(converter: _Converter, operator: Operator) -> None:
    """ADD and PRELU: in NCHW when an input already is (constants follow the activation)."""
    nchw = converter.any_nchw(operator.inputs)
    names = [converter.view(i, nchw) for i in operator.inputs]
    if operator.op == "PRELU":
        slopes = converter.consts.get(operator.inputs[1])
        output = (_prelu(converter, names[0], names[1], slopes) if converter.fast_prelu
                  else converter.op("PRelu", names))
        converter.set(operator.outputs[0], output, nchw)
        return
    output = converter.op("Add", names)
    converter.set(operator.outputs[0], converter.activate(output, option_byte(operator.options, 0)),
                  nchw)


def _prelu(converter: _Converter, x: str, slope: str, slopes: NDArray[Any] | None) -> str:
    """PRELU as ``relu(x) + (x - relu(x)) * slope``: bit for bit ONNX's PRelu (one term is an
    exact 0, the other ``x`` or ``x * slope``), and about twice as fast on ONNX Runtime's CPU
    provider, whose PRelu has no blocked-layout (NCHWc) kernel: measured on the face mesh, 62%
    of a pass was PRelu and the layout reorders around it. Where every slope is at most 1
    (17 of the mesh's 23 PRELUs, 42 of the iris model's 53), ``max(x, x * slope)`` is the same
    bits in two operators (~5% faster again). (``slope * x + (1 - slope) *
    relu(x)`` as 1x1 depthwise convolutions, which stay blocked, is ~15% faster still but
    rounds differently, and the rounding reaches 0.4% of an eye's openness through the
    mesh's second pass and the iris crops: not taken.)"""
    if slopes is not None and slopes.size and float(np.max(slopes)) <= 1.0:
        return converter.op("Max", [x, converter.op("Mul", [x, slope])])
    positive = converter.op("Relu", [x])
    negative = converter.op("Sub", [x, positive])
    return converter.op("Add", [positive, converter.op("Mul", [negative, slope])])


def _relu(converter: _Converter, operator: Operator) -> None:
    x = operator.inputs[0]
    nchw = converter.any_nchw((x,))
    code = 1 if operator.op == "RELU" else 3
    converter.set(operator.outputs[0], converter.activate(converter.view(x, nchw), code), nchw)


def _pad(converter: _Converter, operator: Operator) -> None:
    x, paddings = operator.inputs[0], converter.consts.get(operator.inputs[1])
    if paddings is None:
        raise ModelError("PAD with computed paddings is not supported")
    nchw = converter.any_nchw((x,))
    rows = paddings.astype(np.int64).reshape(-1, 2)
    if nchw:
        rows = rows[_TO_NCHW]
    pads = converter.const(np.concatenate([rows[:, 0], rows[:, 1]]))
    converter.set(operator.outputs[0],
                  converter.op("Pad", [converter.view(x, nchw), pads], mode="constant"), nchw)


def _reshape(converter: _Converter, operator: Operator) -> None:
    target = np.asarray(converter.model.tensors[operator.outputs[0]].shape, np.int64)
    if converter.dynamic_batch:
        if target.size < 2 or target[0] != 1:
            raise ModelError("RESHAPE across the batch cannot take a dynamic batch")
        target[0] = 0  # ONNX: this dimension as the input's (the batch)
    output = converter.op("Reshape", [converter.view(operator.inputs[0], False),
                                      converter.const(target)])
    converter.set(operator.outputs[0], output, False)


def _concatenation(converter: _Converter, operator: Operator) -> None:
    rank = converter.rank(operator.outputs[0])
    axis = option_int(operator.options, 0) % rank
    nchw = rank == 4 and all(converter.any_nchw((i,)) for i in operator.inputs)
    names = [converter.view(i, nchw) for i in operator.inputs]
    output = converter.op("Concat", names, axis=_TO_NCHW.index(axis) if nchw else axis)
    converter.set(operator.outputs[0], converter.activate(output, option_byte(operator.options, 1)),
                  nchw)


def _resize_bilinear(converter: _Converter, operator: Operator) -> None:
    x, options = operator.inputs[0], operator.options
    if converter.dynamic_batch:
        raise ModelError("RESIZE_BILINEAR cannot take a dynamic batch")
    batch, _, _, channels = converter.model.tensors[x].shape
    height, width = converter.model.tensors[operator.outputs[0]].shape[1:3]
    if option_byte(options, 2):
        mode = "align_corners"
    else:
        mode = "half_pixel" if option_byte(options, 3) else "asymmetric"
    sizes = converter.const(np.asarray([batch, channels, height, width], np.int64))
    output = converter.op("Resize", [converter.view(x, True), "", "", sizes], mode="linear",
                          coordinate_transformation_mode=mode)
    converter.set(operator.outputs[0], output, True)


def _dequantize(converter: _Converter, operator: Operator) -> None:
    source = operator.inputs[0]
    if source in converter.consts:  # float16 weights: dequantized once, here
        converter.consts[operator.outputs[0]] = converter.consts[source].astype(np.float32)
        return
    if converter.model.tensors[source].dtype is not np.float16:
        raise ModelError("DEQUANTIZE of quantized integers is not supported")
    nchw = converter.any_nchw((source,))
    output = converter.op("Cast", [converter.view(source, nchw)], to=TensorProto.FLOAT)
    converter.set(operator.outputs[0], output, nchw)


_EMITTERS: dict[str, Callable[[_Converter, Operator], None]] = {
    "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _conv, "MAX_POOL_2D": _max_pool,
    "ADD": _binary, "PRELU": _binary, "RELU": _relu, "RELU6": _relu, "PAD": _pad,
    "RESHAPE": _reshape, "CONCATENATION": _concatenation,
    "RESIZE_BILINEAR": _resize_bilinear, "DEQUANTIZE": _dequantize,
}
