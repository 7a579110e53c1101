"""The generated C on the host: compile model.c with the csrc kernels through cffi and drive it from numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolkit.errors import KernelError, OdlError, ShapeError
from toolkit.host.arrays import STATUS

DTYPES = {0: np.int8, 1: np.uint8, 2: np.int16, 3: np.int32, 4: np.uint32, 5: np.float16, 6: np.float32}


class ModelError(KernelError):
    """The generated model returned an error (a kernel status, or a canary violation naming the step)."""


class HostModel:
    """A generated model compiled for the host. Buffers are addressed by their Program buffer name."""

    def __init__(self, ffi, lib, prefix: str = "odl_model", program=None):
        self.ffi, self.lib, self.prefix, self.program = ffi, lib, prefix, program
        self._fn = lambda n: getattr(lib, f"{prefix}_{n}")
        self.tensors: dict[str, dict] = {}
        for i in range(self._fn("tensor_count")()):
            t = self._fn("tensor_at")(i)
            buf = ffi.string(t.buffer).decode()
            self.tensors[buf] = {"id": int(t.id), "name": ffi.string(t.name).decode(), "data": t.data,
                                 "nbytes": int(t.nbytes), "dtype": np.dtype(DTYPES[int(t.dtype)]),
                                 "writable": bool(t.writable)}

    # -- facts ----------------------------------------------------------------------------------------------
    @property
    def arena_size(self) -> int:
        return int(self._fn("arena_size")())

    @property
    def signature(self) -> int:
        return int(self._fn("signature")())

    @property
    def canary(self) -> bool:
        return bool(self._fn("canary_enabled")())

    # -- buffers ----------------------------------------------------------------------------------------------
    def read(self, name: str) -> np.ndarray:
        t = self._entry(name)
        raw = bytes(self.ffi.buffer(t["data"], t["nbytes"]))
        arr = np.frombuffer(raw, dtype=t["dtype"]).copy()
        if self.program is not None and name in self.program.buffers:
            arr = arr.reshape(self.program.buffers[name].shape)
        return arr

    def write(self, name: str, value) -> None:
        t = self._entry(name)
        if not t["writable"]:
            raise OdlError(f"buffer {name} is in Flash (read-only)")
        arr = np.ascontiguousarray(value, dtype=t["dtype"])
        if arr.nbytes != t["nbytes"]:
            raise ShapeError(f"buffer {name}: {arr.nbytes} bytes given, it holds {t['nbytes']}")
        self.ffi.memmove(t["data"], arr.tobytes(), t["nbytes"])

    def _entry(self, name: str) -> dict:
        t = self.tensors.get(name)
        if t is None or t["data"] == self.ffi.NULL:
            raise OdlError(f"no readable buffer {name!r} in the generated model's tensor table")
        return t

    def reset(self, program=None) -> None:
        """Write every SRAM buffer's initial contents (``Buffer.init``, else zeros) back: a fresh model."""
        program = program or self.program
        if program is None:
            raise OdlError("reset() needs the Program the model was generated from")
        for name, b in sorted(program.buffers.items()):
            if b.storage == "sram":
                init = b.init if b.init is not None else np.zeros(b.shape, b.dtype)
                self.write(name, init)

    # -- calls ------------------------------------------------------------------------------------------------
    def _check(self, status: int, what: str) -> None:
        if status == 0:
            return
        step = self._fn("error_step")()
        region = self._fn("error_region")()
        step = self.ffi.string(step).decode() if step != self.ffi.NULL else what
        if status == getattr(self.lib, f"{self.prefix.upper()}_ERR_CANARY"):
            reg = self.ffi.string(region).decode() if region != self.ffi.NULL else "?"
            raise ModelError(f"canary: {step} wrote outside its planned buffers, into {reg}")
        raise ModelError(f"{step} failed with {STATUS.get(status, status)}")

    def infer(self, x: np.ndarray, out_dtype, out_shape) -> np.ndarray:
        x = np.ascontiguousarray(x)
        out = np.zeros(out_shape, dtype=out_dtype)
        st = self._fn("infer")(self.ffi.from_buffer(x), self.ffi.from_buffer(out))
        self._check(st, "infer")
        return out

    def train_step(self, x: np.ndarray, label: int) -> float:
        x = np.ascontiguousarray(x)
        loss = self.ffi.new("float *")
        st = self._fn("train_step")(self.ffi.from_buffer(x), int(label), loss)
        self._check(st, "train step")
        return float(loss[0])


def build_model(c_path, h_path, prefix: str = "odl_model", program=None, canary: bool = False,
                name: str | None = None, host_simd: bool = True, single_rounding: bool = False) -> HostModel:
    """Compile the generated model with csrc through toolkit.host.build (cached by content) -> HostModel."""
    return build_models([(c_path, h_path, prefix, program, canary)], name=name or prefix, host_simd=host_simd,
                        single_rounding=single_rounding)[0]


def build_models(models, name: str = "models", host_simd: bool = True,
                 single_rounding: bool = False) -> list[HostModel]:
    """Several generated models (each ``(c_path, h_path, prefix, program, canary)``, distinct prefixes) in ONE host
    build: csrc is compiled once. Returns one HostModel per entry."""
    from toolkit.host.build import HostBuild, build

    prefixes = [m[2] for m in models]
    if len(set(prefixes)) != len(prefixes):
        raise OdlError(f"models built together need distinct prefixes, got {prefixes}")
    defines = [f"{m[2].upper()}_CANARY" for m in models if m[4]]
    if single_rounding:
        defines.append("ODL_SINGLE_ROUNDING")
    spec = HostBuild(name=name, extra_sources=[Path(m[0]) for m in models],
                     extra_headers=[Path(m[1]) for m in models],
                     extra_include_dirs=sorted({Path(m[0]).parent for m in models}), defines=defines,
                     host_simd=host_simd)
    ffi, lib = build(spec)
    return [HostModel(ffi, lib, m[2], m[3]) for m in models]
