"""Run .tflite models in the reference interpreters, and TFLite's int8 semantics that the kernels must match.

- ``run_tflm(model, inputs)``: TFLite Micro's Python interpreter (its reference kernels, double rounding) -- the
  reference every odl int8 kernel is compared against bit-for-bit. Also reports the arena bytes TFLM used.
- ``run_litert(model, inputs, kernels=...)``: ai_edge_litert's Interpreter with its optimized kernels ("optimized":
  ruy/gemmlowp, no delegate), its reference kernels ("reference"), or the default XNNPACK delegate ("xnnpack").
  LiteRT does not round like TFLM everywhere (measured on ai-edge-litert 2.3.0): its reference kernels round twice
  like TFLM except FULLY_CONNECTED, which rounds once (TFLITE_SINGLE_ROUNDING arithmetic); XNNPACK rounds once for
  conv / depthwise / fully connected; the optimized conv / FC / MEAN / QUANTIZE kernels differ from both in a few
  outputs. tests/test_kernels_s8_tflm.py keeps the per-op table.
- ``activation_range_s8(activation, scale, zero_point)``: TFLite's CalculateActivationRangeQuantized.

``inputs`` is one array or a list of arrays, in the order of the subgraph's inputs; outputs come back as a list.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass

import numpy as np

from toolkit.errors import OdlError, ToolMissingError

_ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6")  # ActivationFunctionType order


def activation_range_s8(activation: str | int, scale: float, zero_point: int, qmin: int = -128,
                        qmax: int = 127) -> tuple[int, int]:
    """(act_min, act_max) of a fused activation on an int8 output, as TFLite's CalculateActivationRangeQuantized.

    ``quantize(f) = zero_point + round(f / scale)`` in float32 (TfLiteRound: halves away from zero).
    RELU -> [max(qmin, quantize(0)), qmax]; RELU6 -> [max(qmin, quantize(0)), min(qmax, quantize(6))];
    RELU_N1_TO_1 -> [max(qmin, quantize(-1)), min(qmax, quantize(1))]; NONE -> [qmin, qmax].
    ``activation`` is a name or a tflite ActivationFunctionType number.
    """
    if not isinstance(activation, str):
        activation = _ACTIVATIONS[int(activation)] if 0 <= int(activation) < len(_ACTIVATIONS) else str(activation)
    activation = activation.upper()

    def quantize(f: float) -> int:
        q = float(np.float32(f) / np.float32(scale))  # float32 division, as in the C++ lambda
        r = math.floor(abs(q) + 0.5)  # exact in double for a float32 q: std::round, halves away from zero
        return int(zero_point) + (r if q >= 0 else -r)

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    raise OdlError(f"activation {activation!r} has no int8 clamp (choose from {', '.join(_ACTIVATIONS)})")


def num_outputs(model: bytes) -> int:
    """Number of outputs of the model's first subgraph."""
    import tflite

    m = tflite.Model.GetRootAsModel(bytes(model), 0)
    if m.SubgraphsLength() < 1:
        raise OdlError("model has no subgraph")
    return m.Subgraphs(0).OutputsLength()


@dataclass
class TflmResult:
    outputs: list[np.ndarray]
    arena_bytes: int | None  # total arena TFLM allocated (RecordingMicroAllocator), None if not reported


def _as_list(inputs) -> list[np.ndarray]:
    if isinstance(inputs, np.ndarray):
        return [inputs]
    return [np.asarray(x) for x in inputs]


class _CaptureFd:
    """Capture what C++ code writes to a file descriptor (TFLM prints through MicroPrintf to stderr/stdout)."""

    def __init__(self, fds=(1, 2)):
        self.fds = fds
        self.text = ""

    def __enter__(self):
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        self.tmp = tempfile.TemporaryFile(mode="w+b")
        self.saved = [os.dup(fd) for fd in self.fds]
        for fd in self.fds:
            os.dup2(self.tmp.fileno(), fd)
        return self

    def __exit__(self, *exc):
        for fd, saved in zip(self.fds, self.saved):
            os.dup2(saved, fd)
            os.close(saved)
        self.tmp.seek(0)
        self.text = self.tmp.read().decode(errors="replace")
        self.tmp.close()
        return False


def _tflm_runtime():
    try:
        from tflite_micro import runtime
    except ImportError as e:  # pragma: no cover - installed in the dev environment
        raise ToolMissingError("tflite-micro is not installed (pip install tflite-micro)") from e
    return runtime


def run_tflm(model: bytes, inputs, arena_size: int | None = None, measure_arena: bool = True) -> TflmResult:
    """Run ``model`` once in TFLite Micro. ``arena_size`` defaults to 10x the model size plus 64 KiB."""
    runtime = _tflm_runtime()
    if arena_size is None:
        arena_size = 10 * len(model) + 65536
    try:
        interp = runtime.Interpreter.from_bytes(bytes(model), arena_size=arena_size)
        for i, x in enumerate(_as_list(inputs)):
            interp.set_input(x, i)
        interp.invoke()
    except RuntimeError as e:
        raise OdlError(f"TFLite Micro rejected the model: {e}") from e
    outputs = [np.array(interp.get_output(i), copy=True) for i in range(num_outputs(model))]
    arena = None
    if measure_arena:
        with _CaptureFd() as cap:
            interp.print_allocations()
        m = re.search(r"Arena allocation total (\d+) bytes", cap.text)
        arena = int(m.group(1)) if m else None
    return TflmResult(outputs, arena)


LITERT_KERNELS = ("optimized", "reference", "xnnpack")


def run_litert(model: bytes, inputs, kernels: str = "optimized") -> list[np.ndarray]:
    """Run ``model`` once in ai_edge_litert. ``kernels``: "optimized" (builtin kernels, no delegate),
    "reference" (builtin reference kernels) or "xnnpack" (the default delegate)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as e:  # pragma: no cover
        raise ToolMissingError("ai-edge-litert is not installed (pip install ai-edge-litert)") from e
    resolver = {
        "optimized": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        "reference": OpResolverType.BUILTIN_REF,
        "xnnpack": OpResolverType.BUILTIN,
    }.get(kernels)
    if resolver is None:
        raise OdlError(f"kernels must be one of {', '.join(LITERT_KERNELS)}, got {kernels!r}")
    try:
        interp = Interpreter(model_content=bytes(model), experimental_op_resolver_type=resolver, num_threads=1)
        interp.allocate_tensors()
        for d, x in zip(interp.get_input_details(), _as_list(inputs)):
            interp.set_tensor(d["index"], x)
        interp.invoke()
    except (RuntimeError, ValueError) as e:
        raise OdlError(f"LiteRT rejected the model: {e}") from e
    return [np.array(interp.get_tensor(d["index"]), copy=True) for d in interp.get_output_details()]
