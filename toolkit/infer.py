"""Inference with a model's generated C: ``odl infer`` as a Python API.

    from toolkit.infer import load_model, infer, load_inputs

    m = load_model("model.tflite")          # a path, model bytes or an IR Graph; lowered, planned, C built (host)
    y = m.run(x)                            # one input (the model's input shape) or a stack along a new axis
    ys = infer("model.tflite", "x.npz")     # every array of an .npz (or one .npy), run in order

Inputs and outputs are in the model's own dtypes: int8 in / int8 out for a fully quantized model; float32 at an
edge that the .tflite file quantizes / dequantizes itself (QUANTIZE after the input, DEQUANTIZE before the output;
``Graph.meta["tflite_io"]``), computed exactly as TFLite does (toolkit.quant.ptq.quantize_input /
dequantize_output). A trailing int8 SOFTMAX runs with TFLite Micro's fixed-point arithmetic on the int8 logits that
the generated C returns (the compiler's programs end at the logits): on the host through the C kernel
odl_softmax_s8 of the model's own build, for board runs in Python (toolkit.tflite.softmax_ref.softmax_s8). fp32 graphs (PyTorch models) take float32 samples in their own layout and return float32
logits.

Boards: "host" runs the generated C compiled for this machine through cffi; an emulated board ("qemu-cm4", ...)
gets the model's firmware (toolkit.device.build_for_device, cached by model signature) booted in QEMU, and the
samples go over the serial link in EVAL messages (toolkit.device.DeviceSession.logits). Close the model (or use
it as a context manager) to stop QEMU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.errors import DTypeError, OdlError, ShapeError


_HOST_BUILT: dict[str, tuple] = {}  # Program signature -> (program, plan, HostModel) built in this process


class InferError(OdlError):
    """An input that the model cannot run: wrong shape or dtype, unreadable file, unknown board."""


@dataclass
class Edge:
    """One end of the model as the caller sees it: shape (batch included, as in the model) and dtype."""
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float | None = None       # float edge quantized / dequantized by the model file itself
    zero_point: int | None = None


class InferenceModel:
    """A model lowered to a Program, planned and compiled to C for one board; ``run`` maps inputs to outputs."""

    def __init__(self, graph, board: str = "host", workdir=None, simd: bool = True, built=None):
        from toolkit.train.lower import build_program

        board = board or "host"
        self.graph, self.board = graph, board
        precision = "int8" if graph.meta.get("precision") == "int8" else "fp32"
        self.precision = precision
        self.session, self.host = None, None
        if built is not None:  # (program, plan, HostModel) made elsewhere (load_models, an emulate run)
            self.board = "host"
            self.program, self.plan, self.host = built
        elif board == "host":
            from toolkit.emulate import compile_program

            self.program = build_program(graph, "last-layer", precision)
            sig = self.program.signature()
            if sig in _HOST_BUILT and workdir is None:  # built earlier in this process: same C, same library
                _, self.plan, self.host = _HOST_BUILT[sig]
                self.host.reset(self.program)
            else:
                self.plan, self.host = compile_program(self.program, workdir=workdir)
                _HOST_BUILT[sig] = (self.program, self.plan, self.host)
        else:
            from toolkit.device import DeviceSession, build_for_device
            from toolkit.firmware import load_board
            from toolkit.host.build import cache_root

            bd = load_board(board)
            if not str(getattr(bd, "name", board)).startswith("qemu-") and not board.startswith("qemu-"):
                raise InferError(f"board {board!r}: odl infer runs on the host or on an emulated board (qemu-*); "
                                 "for a real board use `odl build` + `odl train`/`eval` with --port")
            program = build_program(graph, "last-layer", precision)
            out = Path(workdir) if workdir is not None else (cache_root() / "infer" / board
                                                             / program.signature()[:16])
            build = build_for_device(graph, board, out, spec="last-layer", precision=precision, simd=simd)
            self.program, self.plan = build.program, build.plan
            self.session = DeviceSession(build)
        self.input, self.output = self._edges()
        self._tail = self._softmax_tail()

    @classmethod
    def from_session(cls, session) -> "InferenceModel":
        """Inference through an open toolkit.device.DeviceSession (e.g. right after on-device fine-tuning: the
        board keeps its trained state while the session lives). Closing the model does not close the session."""
        self = cls.__new__(cls)
        self.graph, self.board = session.graph, session.build.board
        self.precision = "int8" if session.graph.meta.get("precision") == "int8" else "fp32"
        self.program, self.plan, self.session, self.host = session.program, session.build.plan, session, None
        self._own_session = False
        self.input, self.output = self._edges()
        self._tail = self._softmax_tail()
        return self

    def close(self) -> None:
        """Stop the emulated board (if any)."""
        if self.session is not None and getattr(self, "_own_session", True):
            self.session.close()
        self.session = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- the model's edges ----------------------------------------------------------------------------------
    def _edges(self) -> tuple[Edge, Edge]:
        g = self.graph
        io = g.meta.get("tflite_io") or {}
        tin, tout = g.tensor(g.inputs[0]), g.tensor(g.outputs[0])
        if self.precision == "int8":
            if io.get("input"):
                i = io["input"]
                inp = Edge(tuple(i["shape"]), np.dtype(np.float32), i["scale"], i["zero_point"])
            else:
                inp = Edge(tuple(tin.shape), np.dtype(np.int8))
            outs = io.get("outputs") or []
            if outs:
                o = outs[0]
                out = Edge(tuple(o["shape"]), np.dtype(np.float32), o["scale"], o["zero_point"])
            else:
                out = Edge(tuple(tout.shape), np.dtype(np.int8))
            return inp, out
        shape = g.meta.get("torch_input_shape") or list(tin.shape)
        return Edge(tuple(shape), np.dtype(np.float32)), Edge(tuple(tout.shape), np.dtype(np.float32))

    def _softmax_tail(self) -> list:
        g, tail = self.graph, []
        p = g.producer(g.outputs[0])
        while p is not None and p.op == "softmax":
            tail.insert(0, p)
            p = g.producer(p.inputs[0])
        return tail

    # -- running ----------------------------------------------------------------------------------------------
    def _to_input(self, x: np.ndarray) -> np.ndarray:
        """One caller input -> the Program's input buffer contents (NHWC, int8 or float32)."""
        from toolkit.quant.ptq import input_to_nhwc, quantize_input

        g = self.graph
        if self.precision == "int8":
            return quantize_input(g, x) if self.input.dtype == np.float32 else input_to_nhwc(g, x)
        return input_to_nhwc(g, x).astype(np.float32)

    def _logits(self, xin: list[np.ndarray]) -> list[np.ndarray]:
        lb = self.program.buffers[self.program.logits]
        if self.session is not None:
            if not xin:
                return []
            raw = self.session.logits(np.concatenate([x.reshape((1,) + x.shape[-3:] if x.ndim >= 3 else x.shape)
                                                      for x in xin]))
            return [r.reshape(lb.shape) for r in raw]
        return [self.host.infer(x, lb.dtype, lb.shape) for x in xin]

    def _from_logits(self, y: np.ndarray) -> np.ndarray:
        from toolkit.quant.ptq import dequantize_output

        g = self.graph
        if self.precision == "int8":
            for n in self._tail:
                y = self._softmax(y.reshape(-1, y.shape[-1]), g.tensor(n.inputs[0]).quant.scale[0],
                                  float(n.attrs.get("beta", 1.0)))
            out_t = g.outputs[0]
            y = y.reshape(g.tensor(out_t).shape)
            if self.output.dtype == np.float32:
                y = dequantize_output(g, y, out_t)
            return y.reshape(self.output.shape)
        y = y.astype(np.float32)
        if self._tail:  # fp32 softmax on the logits, float64 then rounded to float32
            z = y.reshape(-1, y.shape[-1]).astype(np.float64)
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            y = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
        return y.reshape(self.output.shape)

    def _softmax(self, y: np.ndarray, scale: float, beta: float) -> np.ndarray:
        """TFLM's int8 softmax: the C kernel odl_softmax_s8 of the model's own host build, or (board runs, whose
        programs return logits) the same arithmetic in Python (toolkit.tflite.softmax_ref)."""
        lib = getattr(self.host, "lib", None)
        if lib is not None and hasattr(lib, "odl_softmax_s8"):
            from toolkit.host.arrays import check, ptr
            from toolkit.tflite.softmax_ref import softmax_params

            x = np.ascontiguousarray(y, np.int8)
            out = np.empty_like(x)
            mult, shift, dmin = softmax_params(scale, beta)
            ffi = self.host.ffi
            check(lib.odl_softmax_s8(ptr(ffi, x), int(x.shape[0]), int(x.shape[1]), mult, shift, dmin,
                                     ptr(ffi, out)), "odl_softmax_s8")
            return out
        from toolkit.tflite.softmax_ref import softmax_s8

        return softmax_s8(y, scale, beta)

    def _many(self, xs) -> list[np.ndarray]:
        return [self._from_logits(y) for y in self._logits([self._to_input(x) for x in xs])]

    def run(self, x) -> np.ndarray:
        """One input shaped as the model's input -> one output; a stack along a new leading axis (or along the
        batch axis of a batch-1 model) -> the outputs stacked the same way."""
        x = np.asarray(x)
        want, dt = self.input.shape, self.input.dtype
        if x.dtype != dt:
            if not (dt == np.float32 and x.dtype.kind == "f"):
                raise DTypeError(f"input: the model takes {dt} data, got {x.dtype}"
                                 + (" (this model quantizes its float input itself)" if dt == np.float32 else "")
                                 + (" (a fully quantized model: quantize the samples with the input's scale "
                                    f"{self.graph.tensor(self.graph.inputs[0]).quant.scale[0]:.6g} and zero "
                                    f"point {self.graph.tensor(self.graph.inputs[0]).quant.zero_point[0]})"
                                    if dt == np.int8 and self.graph.tensor(self.graph.inputs[0]).quant else ""))
            x = x.astype(np.float32)
        if x.shape == want:
            return self._many([x])[0]
        if x.ndim == len(want) + 1 and x.shape[1:] == want:
            return np.stack(self._many(list(x))) if len(x) else np.zeros((0,) + self.output.shape,
                                                                         self.output.dtype)
        if len(want) >= 1 and want[0] == 1 and x.ndim == len(want) and x.shape[1:] == want[1:]:
            return np.concatenate(self._many([xi[None] for xi in x])) if len(x) else \
                np.zeros((0,) + self.output.shape[1:], self.output.dtype)
        raise ShapeError(f"input: shape {x.shape} is neither the model's input shape {want} nor a stack of such "
                         f"inputs (N, {', '.join(map(str, want))})")

    def info(self) -> dict:
        return {"board": self.board, "precision": self.precision,
                "input": {"shape": list(self.input.shape), "dtype": str(self.input.dtype)},
                "output": {"shape": list(self.output.shape), "dtype": str(self.output.dtype)},
                "arena_bytes": int(self.plan.arena_bytes), "peak_sram_bytes": int(self.plan.peak_sram_bytes),
                "softmax": [n.name for n in self._tail]}


def load_model(model, board: str = "host", workdir=None, simd: bool = True) -> InferenceModel:
    """An InferenceModel from a Graph, a model path (.tflite, .pt2, .json) or .tflite bytes."""
    graph = _graph(model)
    return InferenceModel(graph, board=board, workdir=workdir, simd=simd)


def _graph(model):
    from toolkit.ir import Graph

    if isinstance(model, (bytes, bytearray)):
        from toolkit.frontends.tflite_fe import from_tflite

        return from_tflite(bytes(model))
    if isinstance(model, Graph):
        return model
    from toolkit.emulate import load_graph

    if not Path(model).exists():
        raise InferError(f"model file {model} does not exist")
    return load_graph(model)


def load_models(models, workdir=None) -> list[InferenceModel]:
    """Several models for the host compiled in ONE host build (the csrc kernels are compiled once)."""
    from toolkit.codegen import generate
    from toolkit.codegen.host import build_models
    from toolkit.host.build import cache_root
    from toolkit.plan import plan_memory
    from toolkit.train.lower import build_program

    graphs = [_graph(m) for m in models]
    entries, built = [], []
    for k, g in enumerate(graphs):
        prec = "int8" if g.meta.get("precision") == "int8" else "fp32"
        prog = build_program(g, "last-layer", prec)
        plan = plan_memory(prog, mode="train")
        prefix = f"odl_infer{k}"
        out = (Path(workdir) if workdir is not None else cache_root() / "infer" / "host") / prog.signature()[:16]
        c, h = generate(prog, plan, out, prefix)
        entries.append((c, h, prefix, prog, False))
        built.append((prog, plan))
    hosts = build_models(entries, name="infer")
    res = []
    for g, (prog, plan), hm in zip(graphs, built, hosts):
        hm.reset(prog)
        _HOST_BUILT.setdefault(prog.signature(), (prog, plan, hm))
        res.append(InferenceModel(g, built=(prog, plan, hm)))
    return res


def memory_comparison(model) -> dict:
    """odl's inference plan (nothing trained: every weight in Flash) next to TFLite Micro's arena for the same
    model. ``arena``: the planner's activations; ``io``: the caller's input and output buffers; ``peak_sram``:
    ``plan.peak_sram_bytes`` (arena, io, the step counter / learning rate words and the stack estimate);
    ``tflm_arena``: the RecordingMicroAllocator total of one TFLM run (None when the model is not a .tflite)."""
    from toolkit.plan import plan_memory
    from toolkit.train.lower import build_program
    from toolkit.train.spec import UpdateSpec

    g = _graph(model)
    prec = "int8" if g.meta.get("precision") == "int8" else "fp32"
    plan = plan_memory(build_program(g, UpdateSpec(), prec), mode="infer")
    tflm = None
    if isinstance(model, (bytes, bytearray)) or str(model).endswith(".tflite"):
        from toolkit.frontends.tflite_fe import tflm_arena_bytes

        tflm = tflm_arena_bytes(model)
    io = int(plan.sram.get("io", 0))
    return {"model": g.name, "arena": int(plan.arena_bytes), "io": io, "arena_plus_io": int(plan.arena_bytes) + io,
            "peak_sram": int(plan.peak_sram_bytes), "stack_estimate": int(plan.sram.get("stack_estimate", 0)),
            "flash_weights": int(plan.flash.get("weights", 0)), "tflm_arena": tflm}


def softmax_s8_c(x, input_scale: float, beta: float = 1.0) -> np.ndarray:
    """The C kernel odl_softmax_s8 (csrc/kernels/ref/s8_softmax.c) over the last axis of int8 ``x`` through the host
    build: TFLM's int8 SOFTMAX (output scale 1/256, zero point -128)."""
    from toolkit.host import get_lib
    from toolkit.host.arrays import as_array, check, ptr
    from toolkit.tflite.softmax_ref import softmax_params

    x = as_array(x, np.int8, "x")
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ShapeError(f"softmax_s8_c: x needs a non-empty last axis, got shape {x.shape}")
    mult, shift, diff_min = softmax_params(input_scale, beta)
    ffi, lib = get_lib()
    y = np.empty_like(x)
    rows = int(x.size // x.shape[-1])
    check(lib.odl_softmax_s8(ptr(ffi, x), rows, int(x.shape[-1]), mult, shift, diff_min, ptr(ffi, y)),
          "odl_softmax_s8")
    return y


def load_inputs(path) -> list[np.ndarray]:
    """The arrays of an .npy (one) or .npz (every array, in file order)."""
    path = Path(path)
    if not path.exists():
        raise InferError(f"input file {path} does not exist")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arrays = [np.asarray(z[k]) for k in z.files]
            if not arrays:
                raise InferError(f"input file {path} holds no arrays")
            return arrays
        return [np.asarray(np.load(path, allow_pickle=False))]
    except InferError:
        raise
    except Exception as e:
        raise InferError(f"input file {path}: not a readable .npy / .npz ({e})") from e


def infer(model, inputs, board: str = "host", workdir=None) -> np.ndarray:
    """Run ``model`` on ``inputs`` (an array, a list of arrays, or an .npy / .npz path). One input shaped as the
    model's input gives one output; otherwise every output is stacked along a new leading axis, in order."""
    if not isinstance(model, InferenceModel):
        with load_model(model, board=board, workdir=workdir) as m:
            return infer(m, inputs)
    m = model
    if isinstance(inputs, (str, Path)):
        inputs = load_inputs(inputs)
    elif isinstance(inputs, np.ndarray):
        inputs = [inputs]
    inputs = [np.asarray(a) for a in inputs]
    if len(inputs) == 1:
        return m.run(inputs[0])
    outs = []
    for a in inputs:
        y = m.run(a)
        if a.shape == m.input.shape:
            outs.append(y[None])
        elif a.ndim == len(m.input.shape) + 1:
            outs.append(y)
        else:  # a stack along the batch axis of a batch-1 model: back to (N, 1, ...)
            outs.append(y[:, None])
    return np.concatenate(outs)


__all__ = ["InferenceModel", "InferError", "Edge", "load_model", "load_models", "load_inputs", "infer",
           "memory_comparison", "softmax_s8_c"]
