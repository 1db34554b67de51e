"""Reader for TensorFlow Lite model files (a FlatBuffer, ``tensorflow/lite/schema/schema.fbs``).

Only what a float graph needs is read: the first subgraph's tensors (shape, type, constant data),
its operators (builtin code, inputs, outputs, options table) and its inputs and outputs. The
FlatBuffer is walked by hand (little-endian tables with vtables, vectors and strings behind
32-bit offsets), so neither TensorFlow nor generated schema code is needed. Field numbers below
are the schema's field order; a union takes two slots (its type, then its value).
Anything the reader does not understand raises ModelError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facegate.errors import ModelError

#: BuiltinOperator values of schema.fbs for the operators the converter knows, and the two of
#: ``face_detection_full_range_sparse`` it does not (named in its error).
BUILTIN_OPS = {
    0: "ADD", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D", 5: "DEPTH_TO_SPACE",
    6: "DEQUANTIZE", 17: "MAX_POOL_2D", 19: "RELU", 21: "RELU6", 22: "RESHAPE",
    23: "RESIZE_BILINEAR", 34: "PAD", 54: "PRELU", 124: "DENSIFY",
}
#: TensorType values of schema.fbs with the numpy type of their data.
TENSOR_TYPES: dict[int, Any] = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8,
                                4: np.int64, 9: np.int8}
_FILE_IDENTIFIER = b"TFL3"


class _Table:
    """One FlatBuffer table: fields by number, read through its vtable."""

    def __init__(self, data: bytes, position: int) -> None:
        self.data, self.position = data, position
        vtable = position - _i32(data, position)
        self._vtable_size = _u16(data, vtable)
        self._vtable = vtable

    def _field(self, number: int) -> int:
        slot = 4 + 2 * number
        if slot >= self._vtable_size:
            return 0
        offset = _u16(self.data, self._vtable + slot)
        return self.position + offset if offset else 0

    def scalar(self, number: int, fmt: str, default: Any = 0) -> Any:
        at = self._field(number)
        return struct.unpack_from("<" + fmt, self.data, at)[0] if at else default

    def table(self, number: int) -> _Table | None:
        at = self._field(number)
        return _Table(self.data, at + _u32(self.data, at)) if at else None

    def _vector(self, number: int) -> tuple[int, int]:
        at = self._field(number)
        if not at:
            return 0, 0
        start = at + _u32(self.data, at)
        return start + 4, _u32(self.data, start)

    def scalars(self, number: int, dtype: Any) -> NDArray[Any]:
        start, length = self._vector(number)
        return np.frombuffer(self.data, dtype=np.dtype(dtype).newbyteorder("<"),
                             count=length, offset=start) if length else np.zeros(0, dtype)

    def tables(self, number: int) -> list[_Table]:
        start, length = self._vector(number)
        return [_Table(self.data, start + 4 * i + _u32(self.data, start + 4 * i))
                for i in range(length)]

    def string(self, number: int) -> str:
        return bytes(self.scalars(number, np.uint8)).decode("utf-8", "replace")


def _u16(data: bytes, at: int) -> int:
    return int(struct.unpack_from("<H", data, at)[0])


def _u32(data: bytes, at: int) -> int:
    return int(struct.unpack_from("<I", data, at)[0])


def _i32(data: bytes, at: int) -> int:
    return int(struct.unpack_from("<i", data, at)[0])


@dataclass(frozen=True, eq=False)
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: Any  # numpy scalar type
    data: NDArray[Any] | None  # constant contents (shaped), None for activations


@dataclass(frozen=True, eq=False)
class Operator:
    op: str  # BUILTIN_OPS name, or "BUILTIN_<code>" for one the reader does not name
    inputs: tuple[int, ...]  # tensor indices; -1: an optional input left out
    outputs: tuple[int, ...]
    options: _Table | None  # the builtin options table, read by the converter per op


@dataclass(frozen=True, eq=False)
class TfliteModel:
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def op_names(self) -> list[str]:
        """Each operator kind once, in order of first use."""
        return list(dict.fromkeys(op.op for op in self.operators))


def parse_model(data: bytes) -> TfliteModel:
    """The first subgraph of a ``.tflite`` file; ModelError when the bytes are not one."""
    if len(data) < 8 or data[4:8] != _FILE_IDENTIFIER:
        raise ModelError("not a TensorFlow Lite model (no TFL3 identifier)")
    try:
        return _parse(data)
    except (struct.error, ValueError, IndexError, UnicodeError) as exc:
        raise ModelError(f"malformed TensorFlow Lite model: {exc}") from exc


def _parse(data: bytes) -> TfliteModel:
    model = _Table(data, _u32(data, 0))
    codes = [_op_code(table) for table in model.tables(1)]
    buffers = [buffer.scalars(0, np.uint8) for buffer in model.tables(4)]
    subgraphs = model.tables(2)
    if len(subgraphs) != 1:
        raise ModelError(f"expected one subgraph, found {len(subgraphs)}")
    graph = subgraphs[0]
    tensors = tuple(_tensor(table, buffers) for table in graph.tables(0))
    operators = tuple(
        Operator(codes[table.scalar(0, "I")], _indices(table, 1), _indices(table, 2),
                 table.table(4))
        for table in graph.tables(3))
    return TfliteModel(tensors, operators, _indices(graph, 1), _indices(graph, 2))


def _op_code(table: _Table) -> str:
    if table.string(1):
        raise ModelError(f"custom operator {table.string(1)!r} is not supported")
    code = max(int(table.scalar(0, "b")), int(table.scalar(3, "i")))
    return BUILTIN_OPS.get(code, f"BUILTIN_{code}")


def _indices(table: _Table, number: int) -> tuple[int, ...]:
    return tuple(int(i) for i in table.scalars(number, np.int32))


def _tensor(table: _Table, buffers: list[NDArray[np.uint8]]) -> Tensor:
    code = int(table.scalar(1, "b"))
    if code not in TENSOR_TYPES:
        raise ModelError(f"tensor type {code} is not supported")
    if table.table(6) is not None:
        raise ModelError("sparse tensors are not supported")
    dtype = TENSOR_TYPES[code]
    shape = tuple(int(s) for s in table.scalars(0, np.int32))
    raw = buffers[int(table.scalar(2, "I"))] if buffers else np.zeros(0, np.uint8)
    data = None
    if raw.size:
        flat = np.frombuffer(raw.tobytes(), dtype=np.dtype(dtype).newbyteorder("<"))
        data = flat.astype(dtype).reshape(shape)
    return Tensor(table.string(3), shape, dtype, data)


# Options tables, read field by field where the converter needs them (schema field numbers).
def option_int(options: _Table | None, number: int, default: int = 0) -> int:
    return int(options.scalar(number, "i", default)) if options else default


def option_byte(options: _Table | None, number: int, default: int = 0) -> int:
    return int(options.scalar(number, "b", default)) if options else default


def option_ints(options: _Table | None, number: int) -> tuple[int, ...]:
    return _indices(options, number) if options else ()
