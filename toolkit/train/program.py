"""The Program: the contract between autodiff (toolkit.train) and code generation (toolkit.codegen).

A Program is a list of C calls over named buffers. Every Step names the exact C function and its exact argument
list, so two independent executors run it: toolkit.train.executor.ProgramRunner (cffi, in-process) and the C that
toolkit.codegen generates. Both must agree bit-exactly.

Argument kinds (``Step.args``):
  Buf(name, offset=0)      pointer into buffer ``name``; ``offset`` counts ELEMENTS of the buffer's dtype.
                           The pointer is cast to the C parameter type.
  Int(v) / Float(v)        scalar int / float argument.
  Null()                   NULL pointer.
  Struct(ctype, fields)    pointer to a static const struct; field values are ints, floats, nested dicts
                           (nested structs, e.g. ``odl_conv_f_params.in``) or Array values (a pointer field to a
                           static const array, e.g. ``odl_requant.multiplier``).
  Array(ctype, values)     pointer to a static const array of ``ctype`` (e.g. "int32_t", "float").
  Scratch(nbytes)          (void *) pointer to a scratch area, valid during this step only (the planner places it;
                           16-byte aligned).
  ScratchSize(nbytes)      the size argument that goes with the Scratch of the same step (an integer).

Run-time learning rate: the buffer ``Program.lr`` (float32 [1], storage "sram", tensor id assigned) holds the lr
used by every update step (updates read it through a pointer, see csrc/include/odl/train_step.h). With a "cosine"
schedule the first train step ``odl_lr_cosine_f32`` computes it from the step counter ``Program.step_counter``
(int32 [1], sram) and advances the counter; with "constant" the caller (or the serial protocol) may write it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from toolkit.errors import OdlError

BUFFER_DTYPES = ("int8", "int32", "float32", "float16", "uint8", "uint32")
STORAGES = ("flash", "sram", "arena", "io")
PHASES = ("forward", "loss", "backward", "update")


@dataclass(frozen=True)
class Buf:
    name: str
    offset: int = 0


@dataclass(frozen=True)
class Int:
    v: int


@dataclass(frozen=True)
class Float:
    v: float


@dataclass(frozen=True)
class Null:
    pass


@dataclass(frozen=True)
class Array:
    ctype: str
    values: tuple

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(self.values))


@dataclass(frozen=True)
class Struct:
    ctype: str
    fields: dict


@dataclass(frozen=True)
class Scratch:
    nbytes: int


@dataclass(frozen=True)
class ScratchSize:
    nbytes: int


Arg = Union[Buf, Int, Float, Null, Array, Struct, Scratch, ScratchSize]


@dataclass
class Buffer:
    name: str
    shape: tuple
    dtype: str
    storage: str
    init: np.ndarray | None = None
    tensor_id: int | None = None
    ir_name: str | None = None
    kind: str = ""  # what it is, for the planner's breakdown: "weight", "bias", "activation", "saved", "mask",
                    # "grad", "momentum", "master", "rng", "lr", "step", "input", "label", "logits", "loss", "const"

    def __post_init__(self):
        self.shape = tuple(int(s) for s in self.shape)
        if self.dtype not in BUFFER_DTYPES:
            raise OdlError(f"buffer {self.name}: dtype {self.dtype!r} not in {BUFFER_DTYPES}")
        if self.storage not in STORAGES:
            raise OdlError(f"buffer {self.name}: storage {self.storage!r} not in {STORAGES}")
        if self.init is not None:
            self.init = np.array(self.init, dtype=self.dtype, copy=True, order="C").reshape(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


@dataclass
class Step:
    kernel: str
    args: list
    phase: str
    node: str

    def buffers(self) -> list[str]:
        """Names of the buffers this step touches (in argument order, duplicates removed)."""
        out: list[str] = []
        for a in self.args:
            if isinstance(a, Buf) and a.name not in out:
                out.append(a.name)
        return out

    def scratch_bytes(self) -> int:
        return sum(a.nbytes for a in self.args if isinstance(a, Scratch))


@dataclass
class Program:
    graph: Any            # toolkit.ir.Graph
    precision: str        # "fp32" | "fp16" | "int8"
    spec: Any             # toolkit.train.spec.UpdateSpec
    buffers: dict[str, Buffer]
    infer: list[Step]
    train: list[Step]
    input: str
    label: str
    logits: str
    loss: str
    lr: str = "lr"
    step_counter: str = "step"
    reorder: bool = True
    # for each Step index of `train`: names of buffers it writes / reads (lifetimes for the planner)
    writes: dict[int, list[str]] = field(default_factory=dict)
    reads: dict[int, list[str]] = field(default_factory=dict)
    infer_writes: dict[int, list[str]] = field(default_factory=dict)
    infer_reads: dict[int, list[str]] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def steps(self, mode: str = "train") -> list[Step]:
        if mode not in ("train", "infer"):
            raise OdlError(f"mode must be 'train' or 'infer', not {mode!r}")
        return self.train if mode == "train" else self.infer

    def access(self, mode: str = "train") -> tuple[dict[int, list[str]], dict[int, list[str]]]:
        """(writes, reads) per step index of ``steps(mode)``."""
        return (self.writes, self.reads) if mode == "train" else (self.infer_writes, self.infer_reads)

    def trained_tensors(self) -> dict[str, Buffer]:
        """Buffers holding IR params that training changes, by IR name."""
        return {b.ir_name: b for b in self.buffers.values() if b.ir_name and b.kind in ("weight", "bias")
                and b.storage == "sram"}

    def signature(self) -> str:
        """A hash of the graph, spec, precision and steps (stable across runs)."""
        h = hashlib.sha256()
        h.update(self.graph.to_json().encode())
        h.update(self.precision.encode())
        h.update(json.dumps(self.spec.to_dict() if hasattr(self.spec, "to_dict") else str(self.spec),
                            sort_keys=True).encode())
        for s in self.train + self.infer:
            h.update(repr((s.kernel, s.args, s.phase, s.node)).encode())
        return h.hexdigest()

    def summary(self) -> str:
        lines = [f"program {self.graph.name} ({self.precision}): {len(self.buffers)} buffers, "
                 f"{len(self.infer)} infer steps, {len(self.train)} train steps"]
        for i, s in enumerate(self.train):
            lines.append(f"  {i:3d} {s.phase:8s} {s.node:20s} {s.kernel}({', '.join(s.buffers())})")
        return "\n".join(lines)
