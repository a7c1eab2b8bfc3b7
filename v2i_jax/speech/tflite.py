"""Reads the constants and operators of a TensorFlow Lite file, with no TensorFlow.

A ``.tflite`` file is a FlatBuffer of the schema ``tensorflow/lite/schema/schema.fbs``. This
reader walks only what a weight port needs: the first subgraph's tensors (name, shape, type and
the bytes of constant ones) and its operators (builtin op code, input and output tensor ids),
so the speech embedding's weights load on machines without TensorFlow (a GPU image, say).

FlatBuffer layout used here: a table starts with an int32 back-offset to its vtable; the vtable
holds uint16 byte offsets of the table's fields (0 = field absent, default value); a field that
is a table, vector or string holds a uint32 forward offset to it; a vector is a uint32 length
followed by its elements.
"""

from __future__ import annotations

import dataclasses
import struct

import numpy as np

# TensorType enum of schema.fbs (only the types the ported models use).
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
# BuiltinOperator enum values.
CONV_2D = 3
BATCH_MATMUL = 126


class TfliteError(ValueError):
  """The file is not a TensorFlow Lite model this reader understands; the message says which."""


@dataclasses.dataclass(frozen=True)
class Tensor:
  name: str
  shape: tuple[int, ...]
  data: np.ndarray | None  # Constant tensors only.


@dataclasses.dataclass(frozen=True)
class Operator:
  opcode: int  # BuiltinOperator
  inputs: tuple[int, ...]
  outputs: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Graph:
  tensors: list[Tensor]
  operators: list[Operator]

  def constant_inputs(self, opcode: int) -> list[list[np.ndarray]]:
    """For every operator of type ``opcode``, in graph order, its constant inputs."""
    return [[self.tensors[i].data for i in op.inputs if i >= 0 and self.tensors[i].data is not None]
            for op in self.operators if op.opcode == opcode]


class _Reader:
  def __init__(self, buf: bytes):
    self.buf = buf

  def u32(self, pos: int) -> int:
    return struct.unpack_from("<I", self.buf, pos)[0]

  def field_pos(self, table: int, field: int) -> int | None:
    vtable = table - struct.unpack_from("<i", self.buf, table)[0]
    vtable_size = struct.unpack_from("<H", self.buf, vtable)[0]
    slot = 4 + 2 * field
    if slot >= vtable_size:
      return None
    offset = struct.unpack_from("<H", self.buf, vtable + slot)[0]
    return table + offset if offset else None

  def scalar(self, table: int, field: int, fmt: str, default=0):
    pos = self.field_pos(table, field)
    return default if pos is None else struct.unpack_from("<" + fmt, self.buf, pos)[0]

  def target(self, table: int, field: int) -> int | None:
    pos = self.field_pos(table, field)
    return None if pos is None else pos + self.u32(pos)

  def vector(self, table: int, field: int) -> tuple[int, int]:
    """``(first element position, length)``; length 0 when absent."""
    pos = self.target(table, field)
    return (0, 0) if pos is None else (pos + 4, self.u32(pos))

  def tables(self, table: int, field: int) -> list[int]:
    start, n = self.vector(table, field)
    return [start + 4 * i + self.u32(start + 4 * i) for i in range(n)]

  def ints(self, table: int, field: int) -> tuple[int, ...]:
    start, n = self.vector(table, field)
    return struct.unpack_from(f"<{n}i", self.buf, start) if n else ()

  def string(self, table: int, field: int) -> str:
    pos = self.target(table, field)
    return "" if pos is None else self.buf[pos + 4:pos + 4 + self.u32(pos)].decode("utf-8")


def read(path: str) -> Graph:
  """The first subgraph of the ``.tflite`` file at ``path``."""
  with open(path, "rb") as f:
    buf = f.read()
  if len(buf) < 8 or buf[4:8] != b"TFL3":
    raise TfliteError(f"{path} is not a TensorFlow Lite model (no TFL3 identifier); pass the "
                      ".tflite file itself.")
  r = _Reader(buf)
  model = r.u32(0)
  # Model: 1 operator_codes, 2 subgraphs, 4 buffers. OperatorCode: 0 deprecated_builtin_code
  # (int8), 3 builtin_code (int32): the larger of the two is the op (schema.fbs' rule).
  opcodes = [max(r.scalar(t, 0, "b"), r.scalar(t, 3, "i")) for t in r.tables(model, 1)]
  buffers = []
  for t in r.tables(model, 4):  # Buffer: 0 data (ubyte vector).
    start, n = r.vector(t, 0)
    buffers.append(buf[start:start + n])
  subgraphs = r.tables(model, 2)
  if not subgraphs:
    raise TfliteError(f"{path} holds no subgraph.")
  graph = subgraphs[0]
  tensors = []
  for t in r.tables(graph, 0):  # Tensor: 0 shape, 1 type, 2 buffer, 3 name.
    shape = tuple(r.ints(t, 0))
    kind, index = r.scalar(t, 1, "b"), r.scalar(t, 2, "I")
    raw = buffers[index] if index < len(buffers) else b""
    data = None
    if raw:
      if kind not in _DTYPES:
        raise TfliteError(f"{path}: tensor type {kind} is not supported by this reader.")
      data = np.frombuffer(raw, _DTYPES[kind]).reshape(shape).copy()
    tensors.append(Tensor(r.string(t, 3), shape, data))
  operators = [Operator(opcodes[r.scalar(t, 0, "I")], tuple(r.ints(t, 1)), tuple(r.ints(t, 2)))
               for t in r.tables(graph, 3)]  # Operator: 0 opcode_index, 1 inputs, 2 outputs.
  return Graph(tensors, operators)
