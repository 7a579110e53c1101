"""Run a Program in-process: every Step is the same C call the generated code makes, through cffi on numpy buffers.

``ProgramRunner(program)`` allocates one numpy array per buffer (arena buffers are separate arrays here; the
generated C packs them into one arena), prepares every call once, and runs ``infer(x)`` / ``train_step(x, label)``.
With ``poison=True`` every arena buffer is filled with a bit pattern (NaN for floats) before each run, so a step that
reads a buffer no earlier step wrote shows up as garbage instead of a stale value.
"""

from __future__ import annotations

import numpy as np

from toolkit.errors import KernelError, OdlError, ShapeError
from toolkit.host.arrays import STATUS
from toolkit.train.lower import cstruct
from toolkit.train.program import Array, Buf, Float, Int, Null, Program, Scratch, ScratchSize, Step, Struct


class ProgramRunner:
    def __init__(self, program: Program, lib=None, poison: bool = False):
        if lib is None:
            from toolkit.host import get_lib
            lib = get_lib()
        self.ffi, self.lib = lib
        self.program = program
        self.poison = poison
        self.buffers: dict[str, np.ndarray] = {}
        for name, b in program.buffers.items():
            if b.init is not None:
                arr = np.array(b.init, dtype=b.dtype, copy=True).reshape(b.shape)
            else:
                arr = np.zeros(b.shape, dtype=b.dtype)
            self.buffers[name] = arr
        self._keep: list = []
        self._infer = [self._prepare(s) for s in program.infer]
        self._train = [self._prepare(s) for s in program.train]
        self.steps_run = 0

    # ---- preparation ----------------------------------------------------------------------------------------------
    def _prepare(self, step: Step):
        ffi = self.ffi
        fn = getattr(self.lib, step.kernel, None)
        if fn is None:
            raise OdlError(f"step {step.node}: kernel {step.kernel} is not in the host library")
        ftype = ffi.typeof(fn)
        if len(ftype.args) != len(step.args):
            raise OdlError(f"step {step.node}: {step.kernel} takes {len(ftype.args)} arguments, the step has "
                           f"{len(step.args)}")
        args = []
        for i, (a, t) in enumerate(zip(step.args, ftype.args)):
            if isinstance(a, Buf):
                arr = self.buffers[a.name]
                if not 0 <= a.offset <= arr.size:
                    raise OdlError(f"step {step.node}: offset {a.offset} outside buffer {a.name}")
                base = ffi.cast("uint8_t *", ffi.from_buffer(arr)) + a.offset * arr.itemsize
                args.append(ffi.cast(t, base))
            elif isinstance(a, Int):
                args.append(int(a.v))
            elif isinstance(a, ScratchSize):
                args.append(int(a.nbytes))
            elif isinstance(a, Float):
                args.append(float(a.v))
            elif isinstance(a, Null):
                args.append(ffi.NULL)
            elif isinstance(a, Array):
                arr = ffi.new(f"{a.ctype}[]", list(a.values))
                self._keep.append(arr)
                args.append(ffi.cast(t, arr))
            elif isinstance(a, Struct):
                p = cstruct(ffi, a.ctype, a.fields, self._keep)
                self._keep.append(p)
                args.append(p)
            elif isinstance(a, Scratch):
                raw = np.zeros(a.nbytes + 16, np.uint8)
                off = (-raw.ctypes.data) % 16
                self._keep.append(raw)
                args.append(ffi.cast(t, ffi.cast("uint8_t *", ffi.from_buffer(raw)) + off))
            else:
                raise OdlError(f"step {step.node}: unknown argument kind {a!r} at position {i}")
        return fn, args, step

    # ---- running --------------------------------------------------------------------------------------------------
    def _poison(self):
        for name, b in self.program.buffers.items():
            if b.storage == "arena":
                arr = self.buffers[name]
                if arr.dtype.kind == "f":
                    arr.fill(np.nan)
                else:
                    arr.view(np.uint8).fill(0xA5)

    def _run(self, calls):
        if self.poison:
            self._poison()
        for fn, args, step in calls:
            st = fn(*args)
            if isinstance(st, int) and st < 0 and st in STATUS:
                raise KernelError(f"step {step.node}: {step.kernel} failed with {STATUS[st]}")

    def _set_input(self, x):
        buf = self.buffers[self.program.input]
        x = np.asarray(x)
        if x.dtype != buf.dtype:
            raise OdlError(f"input: expected dtype {buf.dtype} for a {self.program.precision} program, got {x.dtype}")
        if x.size != buf.size or (x.shape != buf.shape and x.shape != buf.shape[1:]):
            raise ShapeError(f"input: expected shape {buf.shape} (NHWC), got {x.shape}")
        buf[...] = x.reshape(buf.shape)

    def infer(self, x) -> np.ndarray:
        """Logits for one sample (NHWC, the program's input dtype)."""
        self._set_input(x)
        self._run(self._infer)
        return self.buffers[self.program.logits].copy()

    def train_step(self, x, label: int) -> float:
        """One training step on one sample; returns the loss (computed before the update)."""
        self._set_input(x)
        n = self.buffers[self.program.logits].size
        if not 0 <= int(label) < n:
            raise OdlError(f"label {label} outside [0, {n})")
        self.buffers[self.program.label][0] = int(label)
        self._run(self._train)
        self.steps_run += 1
        return float(self.buffers[self.program.loss][0])

    def logits(self) -> np.ndarray:
        return self.buffers[self.program.logits].copy()

    def set_lr(self, lr: float) -> None:
        self.buffers[self.program.lr][0] = lr

    def tensors(self) -> dict[str, np.ndarray]:
        """Current value of every IR param (trained or frozen), by IR name."""
        return {b.ir_name: self.buffers[n].copy() for n, b in self.program.buffers.items()
                if b.ir_name and b.kind in ("weight", "bias")}

    def trained(self) -> dict[str, np.ndarray]:
        """Current value of the params training changes, by IR name."""
        return {k: self.buffers[b.name].copy() for k, b in self.program.trained_tensors().items()}
