"""Reader for dlib's serialized face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``).

The format, learned from dlib's own source (``serialize.h``, ``float_details.h``,
``cuda/tensor.h``, ``dnn/core.h``, ``dnn/layers.h``, ``dnn/input.h``, ``dnn/loss.h``), is
described in ``docs/runtime.md``. Tag and skip layers are not identified in the file (only their
position is), so the parsed layers are matched against the known network (``anet_type`` in dlib's
``examples/dnn_face_recognition_ex.cpp``), which supplies their ids and must agree on every
layer's kind, size and stride. Anything unexpected raises ModelError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from facegate.errors import ModelError

Floats = NDArray[np.float32]
_FLOAT_SPECIAL = {32000: math.inf, 32001: -math.inf, 32002: math.nan}


@dataclass(frozen=True, eq=False)
class InputRGB:
    """``input_rgb_image_sized``: planes R, G, B of (pixel - mean) / 256."""
    mean_rgb: tuple[float, float, float]
    rows: int
    cols: int


@dataclass(frozen=True, eq=False)
class Conv:
    weights: Floats  # (out, in, rows, cols); cross-correlation, as ONNX Conv
    bias: Floats  # (out,)
    stride: tuple[int, int]  # (y, x)
    padding: tuple[int, int]  # (y, x) zeros on each side


@dataclass(frozen=True, eq=False)
class Affine:
    """Per-channel ``x * gamma + beta`` (batch norm frozen after training)."""
    gamma: Floats
    beta: Floats


@dataclass(frozen=True, eq=False)
class Pool:
    kind: Literal["max", "avg"]
    size: tuple[int, int]  # (0, 0): the whole input (``avg_pool_everything``)
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True, eq=False)
class Relu:
    pass


@dataclass(frozen=True, eq=False)
class Tag:
    id: int  # remember the current output as tag<id>; 0: a tag or skip not matched yet


@dataclass(frozen=True, eq=False)
class Skip:
    id: int  # continue from the output tagged <id>


@dataclass(frozen=True, eq=False)
class AddPrev:
    """Current output + output tagged ``tag``; where sizes differ, the smaller is read as zero
    past its end on every axis (dlib's ``tt::add``)."""
    tag: int


@dataclass(frozen=True, eq=False)
class Fc:
    weights: Floats  # (inputs, outputs): y = flatten(x) @ weights, no bias


Layer = InputRGB | Conv | Affine | Pool | Relu | Tag | Skip | AddPrev | Fc


@dataclass(frozen=True)
class LossMetric:
    margin: float
    distance_threshold: float


@dataclass(frozen=True, eq=False)
class DlibNetwork:
    layers: tuple[Layer, ...]  # forward order, input first
    loss: LossMetric


class _Reader:
    """Cursor over the file; every read checks bounds and format."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def fail(self, what: str) -> ModelError:
        return ModelError(f"unexpected dlib model data at byte {self.pos}: {what}")

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise self.fail(f"file ends early (wanted {count} bytes)")
        self.pos += count
        return self.data[self.pos - count:self.pos]

    def int_(self, *, signed: bool = True) -> int:
        control = self.take(1)[0]
        size, negative = control & 0x0F, bool(control & 0x80)
        if control & 0x70 or not 1 <= size <= 8 or (negative and not signed):
            raise self.fail(f"bad integer control byte 0x{control:02x}")
        value = int.from_bytes(self.take(size), "little")
        return -value if negative else value

    def ints(self, count: int) -> tuple[int, ...]:
        return tuple(self.int_() for _ in range(count))

    def float_(self) -> float:  # (dlib's older text encoding fails the control-byte check)
        mantissa, exponent = self.int_(), self.int_()
        if exponent in _FLOAT_SPECIAL:
            return _FLOAT_SPECIAL[exponent]
        if not -32768 <= exponent < 32000:
            raise self.fail(f"float exponent {exponent}")
        return math.ldexp(mantissa, exponent)

    def floats(self, count: int) -> tuple[float, ...]:
        return tuple(self.float_() for _ in range(count))

    def bool_(self) -> bool:
        char = self.take(1)
        if char not in (b"0", b"1"):
            raise self.fail(f"bad boolean {char!r}")
        return char == b"1"

    def string(self) -> str:
        length = self.int_(signed=False)
        if length > 256:
            raise self.fail(f"string of {length} bytes")
        try:
            return self.take(length).decode("ascii")
        except UnicodeDecodeError as exc:
            raise self.fail("non-ASCII string") from exc

    def at_input_layer(self) -> bool:
        """Whether an input layer's name follows (the cursor does not move)."""
        start = self.pos
        try:
            return self.string().startswith("input_")
        except ModelError:
            return False
        finally:
            self.pos = start

    def tensor(self) -> Floats:
        if (version := self.int_()) != 2:
            raise self.fail(f"tensor version {version}")
        shape = self.ints(4)
        if min(shape) < 0:
            raise self.fail(f"tensor shape {shape}")
        values = np.frombuffer(self.take(4 * math.prod(shape)), dtype="<f4")
        return values.astype(np.float32).reshape(shape)

    def alias(self) -> tuple[int, ...]:
        if (version := self.int_()) != 1:
            raise self.fail(f"alias tensor version {version}")
        return self.ints(4)


def parse_network(data: bytes) -> DlibNetwork:
    """The face-recognition ResNet in a dlib ``.dat`` file's bytes; ModelError if it is not."""
    reader = _Reader(data)
    if reader.int_() != 1 or reader.string() != "loss_metric_2":
        raise reader.fail("not a dlib network with a loss_metric layer")
    loss = LossMetric(*reader.floats(2))
    layers = _forward_layers(reader)
    if reader.pos != len(data):
        raise reader.fail(f"{len(data) - reader.pos} trailing bytes")
    return DlibNetwork(layers=_match(layers), loss=loss)


def _forward_layers(reader: _Reader) -> list[Layer]:
    versions: list[int] = []  # outermost first
    while not reader.at_input_layer() or not versions:
        versions.append(reader.int_())
        if versions[-1] not in (1, 2) and not reader.at_input_layer():
            raise reader.fail(f"layer version {versions[-1]}")
    bottom = versions.pop()  # the add_layer sitting directly on the input layer
    if bottom not in (2, 3):
        raise reader.fail(f"input add_layer version {bottom}")
    forward: list[Layer] = [_input(reader), _details(reader)]
    _scratch(reader, sample_factor=bottom == 3)
    for version in reversed(versions):
        if version == 1:
            forward.append(Tag(0))
        else:
            forward.append(_details(reader))
            _scratch(reader, sample_factor=False)
    return forward


def _scratch(reader: _Reader, *, sample_factor: bool) -> None:
    """Three flags and three scratch tensors each add_layer writes after its details."""
    for _ in range(3):
        reader.bool_()
    for _ in range(3):
        reader.tensor()
    if sample_factor:
        reader.int_(signed=False)


def _input(reader: _Reader) -> InputRGB:
    if (name := reader.string()) != "input_rgb_image_sized":
        raise reader.fail(f"unsupported input layer {name!r}")
    red, green, blue = reader.floats(3)
    return InputRGB((red, green, blue), reader.int_(signed=False), reader.int_(signed=False))


def _details(reader: _Reader) -> Layer:
    name = reader.string()
    if name == "con_4":
        return _conv(reader)
    if name == "affine_":
        return _affine(reader)
    if name in ("max_pool_2", "avg_pool_2"):
        size, stride, padding = reader.ints(2), reader.ints(2), reader.ints(2)
        _check_padding(reader, size, stride, padding)
        kind: Literal["max", "avg"] = "max" if name.startswith("max") else "avg"
        return Pool(kind, (size[0], size[1]), (stride[0], stride[1]), (padding[0], padding[1]))
    if name == "relu_":
        return Relu()
    if name == "add_prev_":
        return AddPrev(tag=0)
    if name == "fc_2":
        return _fc(reader)
    raise reader.fail(f"unsupported layer {name!r}")


def _conv(reader: _Reader) -> Conv:
    params = reader.tensor().ravel()
    filters, rows, cols, stride_y, stride_x, pad_y, pad_x = reader.ints(7)
    _check_padding(reader, (rows, cols), (stride_y, stride_x), (pad_y, pad_x))
    shape, bias_shape = reader.alias(), reader.alias()
    reader.floats(4)  # learning-rate and weight-decay multipliers
    count = math.prod(shape)
    if (shape[0], shape[2:]) != (filters, (rows, cols)) or params.size != count + filters:
        raise reader.fail(f"convolution of shape {shape} with {params.size} parameters")
    if math.prod(bias_shape) != filters:
        raise reader.fail(f"convolution bias of shape {bias_shape}")
    return Conv(params[:count].reshape(shape).copy(), params[count:].copy(),
                (stride_y, stride_x), (pad_y, pad_x))


def _affine(reader: _Reader) -> Affine:
    params = reader.tensor().ravel()
    gamma, beta, mode = reader.alias(), reader.alias(), reader.int_()
    channels = gamma[1]
    if mode != 0 or gamma != (1, channels, 1, 1) or beta != gamma or params.size != 2 * channels:
        raise reader.fail(f"affine layer that is not per channel (mode {mode}, gamma {gamma})")
    return Affine(gamma=params[:channels].copy(), beta=params[channels:].copy())


def _fc(reader: _Reader) -> Fc:
    outputs, inputs = reader.int_(signed=False), reader.int_(signed=False)
    params = reader.tensor().ravel()
    weights, _biases, bias_mode = reader.alias(), reader.alias(), reader.int_()
    reader.floats(4)
    if bias_mode != 1 or weights != (inputs, outputs, 1, 1) or params.size != inputs * outputs:
        raise reader.fail(f"fully connected layer with bias mode {bias_mode}, weights {weights}")
    return Fc(weights=params.reshape(inputs, outputs).copy())


Spec = tuple[str | int, ...]  # ("con", filters, rows, cols, stride_y, stride_x), ("tag", 1)...


def _block(filters: int, stride: int) -> list[Spec]:
    return [("con", filters, 3, 3, stride, stride), ("affine",), ("relu",),
            ("con", filters, 3, 3, 1, 1), ("affine",)]


def resnet_v1_spec() -> list[Spec]:
    """dlib's ``anet_type`` in forward order (input first)."""
    spec: list[Spec] = [("input", 150, 150), ("con", 32, 7, 7, 2, 2), ("affine",), ("relu",),
                        ("max", 3, 3, 2, 2)]
    for filters, count in ((32, 3), (64, 4), (128, 3), (256, 3), (256, 1)):
        for index in range(count):
            if filters > 32 and index == 0:  # add_prev2<avg_pool<skip1<tag2<block<tag1<...
                spec += [("tag", 1), *_block(filters, 2), ("tag", 2), ("skip", 1),
                         ("avg", 2, 2, 2, 2), ("add_prev", 2), ("relu",)]
            else:  # add_prev1<block<tag1<...>>>
                spec += [("tag", 1), *_block(filters, 1), ("add_prev", 1), ("relu",)]
    return [*spec, ("avg", 0, 0, 1, 1), ("fc", 128)]


def _signature(layer: Layer) -> Spec:
    if isinstance(layer, InputRGB):
        return ("input", layer.rows, layer.cols)
    if isinstance(layer, Conv):
        return ("con", layer.weights.shape[0], *layer.weights.shape[2:], *layer.stride)
    if isinstance(layer, Pool):
        return (layer.kind, *layer.size, *layer.stride)
    if isinstance(layer, Fc):
        return ("fc", layer.weights.shape[1])
    names = {Affine: "affine", Relu: "relu", AddPrev: "add_prev", Tag: "tag or skip"}
    return (names.get(type(layer), type(layer).__name__),)


def _match(layers: list[Layer]) -> tuple[Layer, ...]:
    """Check the parsed layers against the known network; give tags, skips and adds their ids."""
    spec = resnet_v1_spec()
    if len(layers) != len(spec):
        raise ModelError(f"dlib model has {len(layers)} layers, the face ResNet has {len(spec)}")
    matched: list[Layer] = []
    for index, (layer, expected) in enumerate(zip(layers, spec, strict=True)):
        kind, ident = expected[0], expected[-1]
        if isinstance(layer, Tag) and kind in ("tag", "skip"):
            matched.append(Tag(int(ident)) if kind == "tag" else Skip(int(ident)))
        elif isinstance(layer, AddPrev) and kind == "add_prev":
            matched.append(AddPrev(int(ident)))
        elif not isinstance(layer, Tag) and _signature(layer) == expected:
            matched.append(layer)
        else:
            raise ModelError(f"dlib model layer {index} is {_signature(layer)}, "
                             f"expected {expected}")
    return tuple(matched)


def _check_padding(reader: _Reader, size: tuple[int, ...], stride: tuple[int, ...],
                   padding: tuple[int, ...]) -> None:
    """dlib loads only its default padding: size // 2 for stride 1, else 0 (0 for size 0)."""
    for width, step, pad in zip(size, stride, padding, strict=True):
        if pad != (width // 2 if step == 1 else 0):
            raise reader.fail(f"padding {padding} for a {size} window with stride {stride}")
