"""Lowering an IR graph to a Program: buffers, forward Steps per precision, then autodiff (toolkit.train.autodiff).

Entry point: ``build_program(graph, spec, precision, reorder=True) -> Program``.

Precisions:
  fp32 / fp16  the float IR graph (from the torch frontend); fp16 stores params and activations as float16 and calls
               the *_f16 kernels (FP32 accumulation); gradients have the activation dtype.
  int8         an int8 IR graph (after PTQ): forward with TFLite arithmetic (kernels_s8.h), backward in FP32 from the
               stored integers (train_s8.h), QAS updates of the int8/int32 slices.

Buffers: frozen params -> "flash"; params with any trainable channel, optimizer state, lr, step counter, PRNG
state -> "sram"; activations, masks, gradients -> "arena"; sample, label, logits, loss -> "io". A reshape is free: its
output shares its input's buffer (and gradient buffer). A trailing softmax is dropped: programs output logits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from toolkit.errors import OdlError
from toolkit.train.program import (Array, Buf, Buffer, Float, Int, Null, Program, Scratch, ScratchSize, Step,
                                   Struct)
from toolkit.train.spec import LAYER_OPS, ResolvedSpec, UpdateSpec

PRECISIONS = ("fp32", "fp16", "int8")
SCRATCH_CAP = 16384   # train_s8 kernels: scratch is max(min size, min(fastest size, SCRATCH_CAP)) bytes
CONV_S8_BLOCK_ROWS = 32
GRAD_CHUNK_BYTES = 8192   # int8 + reorder: weight gradients computed and applied in chunks of channels of this size


class LoweringError(OdlError):
    """The graph cannot be lowered for this precision (unsupported op or attribute combination)."""


def c_ident(name: str) -> str:
    s = re.sub(r"[^0-9A-Za-z_]", "_", name)
    return s if s and not s[0].isdigit() else "t_" + s


@dataclass
class Builder:
    """Shared state of lowering and autodiff: buffers, IR tensor -> buffer maps, step lists."""

    graph: object
    precision: str
    spec: UpdateSpec
    rs: ResolvedSpec
    buffers: dict = field(default_factory=dict)
    root: dict = field(default_factory=dict)      # IR tensor -> representative tensor (reshape aliasing)
    val: dict = field(default_factory=dict)       # representative -> value buffer
    grad: dict = field(default_factory=dict)      # representative -> gradient buffer
    rg: dict = field(default_factory=dict)        # IR tensor -> needs a gradient
    next_id: int = 0
    masks: dict = field(default_factory=dict)     # node name -> 1-bit relu mask buffer (fp modes)
    scratch_cap: int = 16384
    grad_chunk_bytes: int = 8192
    reorder_now: bool = True
    _tmp: int = 0

    # ---- basic helpers ------------------------------------------------------------------------------------------
    @property
    def fdt(self) -> str:
        """Element dtype of float activations / gradients."""
        return "float16" if self.precision == "fp16" else "float32"

    @property
    def sfx(self) -> str:
        return "f16" if self.precision == "fp16" else "f32"

    def add(self, name: str, shape, dtype: str, storage: str, kind: str, init=None, ir_name=None,
            tensor_id: bool = False) -> str:
        name = c_ident(name)
        base, i = name, 1
        while name in self.buffers:
            i += 1
            name = f"{base}_{i}"
        tid = None
        if tensor_id:
            tid = self.next_id
            self.next_id += 1
        self.buffers[name] = Buffer(name, tuple(shape), dtype, storage, init, tid, ir_name, kind)
        return name

    def tmp(self, stem: str, shape, dtype: str, kind: str = "grad") -> str:
        self._tmp += 1
        return self.add(f"{stem}_tmp{self._tmp}", shape, dtype, "arena", kind)

    def t(self, name: str):
        return self.graph.tensor(name)

    def r(self, tensor: str) -> str:
        return self.root.get(tensor, tensor)

    def value(self, tensor: str) -> str:
        """Buffer holding the forward value of an IR tensor (created on first use)."""
        r = self.r(tensor)
        if r not in self.val:
            t = self.t(r)
            dt = "int8" if self.precision == "int8" else self.fdt
            self.val[r] = self.add("a_" + r, t.shape, dt, "arena", "activation", ir_name=r)
        return self.val[r]

    def nelem(self, tensor: str) -> int:
        return self.t(tensor).size


def dims(shape) -> dict:
    if len(shape) == 4:
        n, h, w, c = shape
    elif len(shape) == 2:
        n, h, w, c = shape[0], 1, 1, shape[1]
    else:
        raise LoweringError(f"expected an NHWC or [N, K] shape, got {shape}")
    return {"n": int(n), "h": int(h), "w": int(w), "c": int(c)}


def window(node, in_shape, out_shape) -> dict:
    a = node.attrs
    kh, kw = a["kernel"]
    sh, sw = a["stride"]
    dh, dw = a.get("dilation", (1, 1))
    pt, pb, pl, pr = a["pad"]
    return {"kernel_h": int(kh), "kernel_w": int(kw), "stride_h": int(sh), "stride_w": int(sw),
            "dilation_h": int(dh), "dilation_w": int(dw), "pad_top": int(pt), "pad_left": int(pl),
            "out_h": int(out_shape[1]), "out_w": int(out_shape[2])}


def is_pointwise(node) -> bool:
    a = node.attrs
    return (node.op == "conv2d" and tuple(a["kernel"]) == (1, 1) and tuple(a["stride"]) == (1, 1)
            and tuple(a["pad"]) == (0, 0, 0, 0))


def conv_f_params(node, in_shape, out_shape) -> dict:
    return {"in": dims(in_shape), "out_c": int(out_shape[3]), "win": window(node, in_shape, out_shape)}


# ---- cffi helpers used at compile time (scratch sizes) ------------------------------------------------------------
_LIB = None


def lib():
    global _LIB
    if _LIB is None:
        from toolkit.host import get_lib
        _LIB = get_lib()
    return _LIB


def cstruct(ffi, ctype: str, fields: dict, keep: list):
    """ffi.new(ctype *) filled from a Struct's fields (nested dicts, Array pointer fields)."""
    p = ffi.new(ctype + " *")
    _fill(ffi, p[0], fields, keep)
    return p


def _fill(ffi, obj, fields: dict, keep: list):
    for k, v in fields.items():
        if isinstance(v, dict):
            _fill(ffi, getattr(obj, k), v, keep)
        elif isinstance(v, Array):
            arr = ffi.new(f"{v.ctype}[]", list(v.values))
            keep.append(arr)
            setattr(obj, k, arr)
        else:
            setattr(obj, k, v)


def query(fn_name: str, *args) -> int:
    """Call a *_scratch_size function; Struct args become temporary C structs."""
    ffi, L = lib()
    keep: list = []
    cargs = [cstruct(ffi, a.ctype, a.fields, keep) if isinstance(a, Struct) else a for a in args]
    return int(getattr(L, fn_name)(*cargs))


def scratch_args(nbytes: int) -> list:
    return [Scratch(nbytes), ScratchSize(nbytes)] if nbytes > 0 else [Null(), Int(0)]


# ---- int8 helpers ---------------------------------------------------------------------------------------------------
def qparams(t) -> tuple[float, int]:
    if t.quant is None:
        raise LoweringError(f"tensor {t.name} has no quantization parameters; int8 lowering needs a PTQ'd graph")
    return float(np.float32(t.quant.scale[0])), int(t.quant.zero_point[0])


def act_range(activation: str, t) -> tuple[int, int]:
    """TFLite CalculateActivationRangeQuantized for an int8 output (toolkit.ir.interp's, so both agree)."""
    from toolkit.ir.interp import activation_range

    s, zp = qparams(t)
    return activation_range(activation, s, zp)


def w_scales(t) -> np.ndarray:
    if t.quant is None:
        raise LoweringError(f"weight {t.name} has no quantization parameters")
    s = np.asarray(t.quant.scale, dtype=np.float32)
    return s


def per_channel_scales(t, out_c: int) -> tuple:
    s = w_scales(t)
    if s.size == 1:
        s = np.full(out_c, s[0], np.float32)
    return tuple(float(v) for v in s)


def _tflite_padding(node, in_shape, out_shape) -> str | None:
    """'VALID' / 'SAME' when the IR's explicit padding is what TFLite computes for that mode, else None."""
    from toolkit.quant.tflite_ref import out_size_and_padding

    a = node.attrs
    kh, kw = a["kernel"]
    sh, sw = a["stride"]
    dh, dw = a.get("dilation", (1, 1))
    pt, pb, pl, pr = a["pad"]
    if (pt, pb, pl, pr) == (0, 0, 0, 0):
        return "VALID"
    oh, ph = out_size_and_padding(in_shape[1], kh, sh, dh, "SAME")
    ow, pw = out_size_and_padding(in_shape[2], kw, sw, dw, "SAME")
    if (oh, ow) == (out_shape[1], out_shape[2]) and (ph, pw) == (pt, pl):
        return "SAME"
    return None


PADDING = {"VALID": 0, "SAME": 1}


# ---- forward rules ---------------------------------------------------------------------------------------------------
# FWD[op](b, node, mode) -> list[Step]. mode "train" uses mask-producing relus where the backward needs them.
FWD: dict = {}


def fwd(*ops):
    def deco(fn):
        for op in ops:
            FWD[op] = fn
        return fn
    return deco


def _needs_backward(b: Builder, node) -> bool:
    return any(b.rg.get(o) for o in node.outputs)


def _bias_arg(b: Builder, node):
    return Buf(b.value(node.inputs[2])) if len(node.inputs) >= 3 else Null()


def _fp_activation(b: Builder, node, y: str, n: int, mode: str, steps: list) -> None:
    """Fused relu/relu6 after a float conv/FC: in place on y; the 1-bit mask when the backward needs it."""
    act = node.attrs.get("activation", "none")
    if act in (None, "none"):
        return
    if act not in ("relu", "relu6"):
        raise LoweringError(f"node {node.name}: unknown fused activation {act!r}")
    if mode == "train" and b.rg.get(node.outputs[0]):
        m = b.add(f"mask_{node.outputs[0]}", ((n + 7) // 8,), "uint8", "arena", "mask")
        b.masks[node.name] = m
        steps.append(Step(f"odl_{act}_{b.sfx}_forward_mask", [Buf(y), Buf(y), Buf(m), Int(n)], "forward", node.name))
    else:
        steps.append(Step(f"odl_{act}_{b.sfx}_forward", [Buf(y), Buf(y), Int(n)], "forward", node.name))


@fwd("conv2d", "depthwise_conv2d", "fully_connected")
def fwd_layer(b: Builder, node, mode: str) -> list:
    if b.precision == "int8":
        return fwd_layer_s8(b, node, mode)
    x, w = node.inputs[0], node.inputs[1]
    y = node.outputs[0]
    xs, ys = b.t(x).shape, b.t(y).shape
    X, W, Y = b.value(x), b.value(w), b.value(y)
    sfx, steps = b.sfx, []
    if node.op == "fully_connected":
        steps.append(Step(f"odl_fully_connected_{sfx}_forward",
                          [Buf(X), Buf(W), _bias_arg(b, node), Buf(Y), Int(1), Int(xs[-1]), Int(ys[-1])],
                          "forward", node.name))
    elif is_pointwise(node):
        steps.append(Step(f"odl_pointwise_conv2d_{sfx}_forward",
                          [Buf(X), Buf(W), _bias_arg(b, node), Buf(Y), Int(xs[1] * xs[2]), Int(xs[3]), Int(ys[3])],
                          "forward", node.name))
    else:
        p = Struct("odl_conv_f_params", conv_f_params(node, xs, ys))
        if node.op == "depthwise_conv2d":
            if int(node.attrs.get("depth_multiplier", 1)) != 1:
                raise LoweringError(f"node {node.name}: depthwise depth_multiplier != 1 is not supported for "
                                    f"training")
            steps.append(Step(f"odl_depthwise_conv2d_{sfx}_forward", [p, Buf(X), Buf(W), _bias_arg(b, node), Buf(Y)],
                              "forward", node.name))
        else:
            nbytes = query(f"odl_conv2d_{sfx}_forward_scratch_size", p)
            steps.append(Step(f"odl_conv2d_{sfx}_forward",
                              [p, Buf(X), Buf(W), _bias_arg(b, node), Buf(Y)] + scratch_args(nbytes),
                              "forward", node.name))
    _fp_activation(b, node, Y, b.nelem(y), mode, steps)
    return steps


def requant_struct(b: Builder, node) -> tuple:
    from toolkit.quant.params import conv_requant_params

    x, w, y = b.t(node.inputs[0]), b.t(node.inputs[1]), b.t(node.outputs[0])
    sx, _ = qparams(x)
    sy, _ = qparams(y)
    ws = w_scales(w)
    mult, shift = conv_requant_params(sx, ws, sy)
    per = 1 if ws.size > 1 else 0
    return Struct("odl_requant", {"multiplier": Array("int32_t", tuple(int(v) for v in mult)),
                                  "shift": Array("int32_t", tuple(int(v) for v in shift)), "per_channel": per})


def fwd_layer_s8(b: Builder, node, mode: str) -> list:
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    tx, ty = b.t(x), b.t(y)
    xs, ys = tx.shape, ty.shape
    X, W, Y = b.value(x), b.value(w), b.value(y)
    _, zx = qparams(tx)
    _, zy = qparams(ty)
    lo, hi = act_range(node.attrs.get("activation", "none"), ty)
    q = requant_struct(b, node)
    o = Struct("odl_output_s8", {"output_offset": zy, "act_min": lo, "act_max": hi})
    bias = _bias_arg(b, node)
    if node.op == "fully_connected":
        return [Step("odl_fully_connected_s8_forward",
                     [Buf(X), Buf(W), bias, Int(1), Int(ys[-1]), Int(xs[-1]), Int(-zx), q, o, Buf(Y)],
                     "forward", node.name)]
    if is_pointwise(node):
        return [Step("odl_pointwise_conv2d_s8_forward",
                     [Buf(X), Struct("odl_dims", dims(xs)), Buf(W), Int(ys[3]), bias, Int(-zx), q, o, Buf(Y)],
                     "forward", node.name)]
    steps = []
    pad = _tflite_padding(node, xs, ys)
    in_shape, src = xs, X
    if pad is None:   # explicit padding TFLite's SAME does not produce (torch stride 2, padding 1): window kernels
        win = Struct("odl_window", window(node, xs, ys))
        if node.op == "depthwise_conv2d":
            return [Step("odl_depthwise_conv2d_s8_forward_window",
                         [Buf(X), Struct("odl_dims", dims(xs)), Buf(W), Int(int(node.attrs.get("depth_multiplier", 1))),
                          bias, win, Int(-zx), q, o, Buf(Y)], "forward", node.name)]
        return [Step("odl_conv2d_s8_forward_window",
                     [Buf(X), Struct("odl_dims", dims(xs)), Buf(W), Int(ys[3]), bias, win, Int(-zx), q, o, Buf(Y)],
                     "forward", node.name)]
    a = node.attrs
    kh, kw = a["kernel"]
    p = Struct("odl_conv_s8_params", {"stride_h": int(a["stride"][0]), "stride_w": int(a["stride"][1]),
                                      "dilation_h": int(a["dilation"][0]), "dilation_w": int(a["dilation"][1]),
                                      "padding": PADDING[pad], "input_offset": -zx})
    if node.op == "depthwise_conv2d":
        steps.append(Step("odl_depthwise_conv2d_s8_forward",
                          [Buf(src), Struct("odl_dims", dims(in_shape)), Buf(W), Int(kh), Int(kw),
                           Int(int(a.get("depth_multiplier", 1))), bias, p, q, o, Struct("odl_dims", dims(ys)),
                           Buf(Y)], "forward", node.name))
    else:
        rows = max(1, min(CONV_S8_BLOCK_ROWS, ys[1] * ys[2]))
        nbytes = query("odl_conv2d_s8_scratch_size", rows, kh, kw, xs[3])
        steps.append(Step("odl_conv2d_s8_forward",
                          [Buf(src), Struct("odl_dims", dims(in_shape)), Buf(W), Int(ys[3]), Int(kh), Int(kw), bias,
                           p, q, o, Struct("odl_dims", dims(ys)), Buf(Y), Scratch(nbytes), ScratchSize(nbytes)],
                          "forward", node.name))
    return steps


@fwd("relu", "relu6")
def fwd_relu(b: Builder, node, mode: str) -> list:
    x, y = node.inputs[0], node.outputs[0]
    X, Y, n = b.value(x), b.value(y), b.nelem(x)
    if b.precision == "int8":   # same input/output quantization (the PTQ keeps it): a clamp
        lo, hi = act_range(node.op, b.t(y))
        return [Step("odl_clamp_s8", [Buf(X), Int(n), Int(lo), Int(hi), Buf(Y)], "forward", node.name)]
    if mode == "train" and b.rg.get(y):
        m = b.add(f"mask_{y}", ((n + 7) // 8,), "uint8", "arena", "mask")
        b.masks[node.name] = m
        return [Step(f"odl_{node.op}_{b.sfx}_forward_mask", [Buf(X), Buf(Y), Buf(m), Int(n)], "forward", node.name)]
    return [Step(f"odl_{node.op}_{b.sfx}_forward", [Buf(X), Buf(Y), Int(n)], "forward", node.name)]


def pool_window(node, xs, ys) -> dict:
    w = window(node, xs, ys)
    w["dilation_h"] = w["dilation_w"] = 1
    return w


@fwd("avg_pool2d", "max_pool2d")
def fwd_pool(b: Builder, node, mode: str) -> list:
    x, y = node.inputs[0], node.outputs[0]
    xs, ys = b.t(x).shape, b.t(y).shape
    X, Y = b.value(x), b.value(y)
    kind = "avg" if node.op == "avg_pool2d" else "max"
    if b.precision == "int8":
        pad = _tflite_padding(node, xs, ys)
        steps, in_shape, src = [], xs, X
        if pad is None and kind == "max":   # pad with -128 (never the max of a window with a real tap), then VALID
            pt, pb, pl, pr = node.attrs["pad"]
            in_shape = (xs[0], xs[1] + pt + pb, xs[2] + pl + pr, xs[3])
            src = b.add(f"pad_{node.name}", in_shape, "int8", "arena", "activation")
            steps.append(Step("odl_pad_s8", [Buf(X), Struct("odl_dims", dims(xs)), Int(pt), Int(pb), Int(pl), Int(pr),
                                             Int(-128), Buf(src)], "forward", node.name))
            pad = "VALID"
        if pad is None:
            raise LoweringError(f"node {node.name}: int8 {node.op} needs TFLite SAME or VALID padding, got "
                                f"{node.attrs['pad']}")
        a = node.attrs
        p = Struct("odl_pool_s8_params", {"pool_h": int(a["kernel"][0]), "pool_w": int(a["kernel"][1]),
                                          "stride_h": int(a["stride"][0]), "stride_w": int(a["stride"][1]),
                                          "padding": PADDING[pad], "act_min": -128, "act_max": 127})
        return steps + [Step(f"odl_{kind}_pool_s8", [Buf(src), Struct("odl_dims", dims(in_shape)), p,
                                                     Struct("odl_dims", dims(ys)), Buf(Y)], "forward", node.name)]
    return [Step(f"odl_{kind}_pool2d_{b.sfx}_forward",
                 [Struct("odl_dims", dims(xs)), Struct("odl_window", pool_window(node, xs, ys)), Buf(X), Buf(Y)],
                 "forward", node.name)]


@fwd("global_avg_pool")
def fwd_gap(b: Builder, node, mode: str) -> list:
    from toolkit.quant.params import mean_params

    x, y = node.inputs[0], node.outputs[0]
    xs = b.t(x).shape
    X, Y = b.value(x), b.value(y)
    if b.precision == "int8":
        sx, zx = qparams(b.t(x))
        sy, zy = qparams(b.t(y))
        m, s, _ = mean_params(sx, zx, sy, zy)
        p = Struct("odl_mean_s8_params", {"input_zp": zx, "output_zp": zy, "multiplier": int(m), "shift": int(s),
                                          "truncating_mean": 0})
        return [Step("odl_mean_s8", [Buf(X), Struct("odl_dims", dims(xs)), p, Buf(Y)], "forward", node.name)]
    return [Step(f"odl_global_avg_pool_{b.sfx}_forward", [Struct("odl_dims", dims(xs)), Buf(X), Buf(Y)], "forward",
                 node.name)]


@fwd("add")
def fwd_add(b: Builder, node, mode: str) -> list:
    from toolkit.quant.params import add_params

    a_, c_, y = node.inputs[0], node.inputs[1], node.outputs[0]
    A, C, Y, n = b.value(a_), b.value(c_), b.value(y), b.nelem(y)
    if b.precision == "int8":
        sa, za = qparams(b.t(a_))
        sc, zc = qparams(b.t(c_))
        sy, zy = qparams(b.t(y))
        ap = add_params(sa, za, sc, zc, sy, zy)
        lo, hi = act_range(node.attrs.get("activation", "none"), b.t(y))
        p = Struct("odl_add_s8_params", {
            "input1_offset": ap.input1_offset, "input2_offset": ap.input2_offset, "left_shift": ap.left_shift,
            "input1_multiplier": ap.input1_multiplier, "input1_shift": ap.input1_shift,
            "input2_multiplier": ap.input2_multiplier, "input2_shift": ap.input2_shift,
            "output_multiplier": ap.output_multiplier, "output_shift": ap.output_shift,
            "output_offset": ap.output_offset, "act_min": lo, "act_max": hi})
        return [Step("odl_add_s8", [Buf(A), Buf(C), Int(n), p, Buf(Y)], "forward", node.name)]
    steps = [Step(f"odl_add_{b.sfx}_forward", [Buf(A), Buf(C), Buf(Y), Int(n)], "forward", node.name)]
    _fp_activation(b, node, Y, n, mode, steps)
    return steps


@fwd("reshape", "softmax")
def fwd_free(b: Builder, node, mode: str) -> list:
    return []   # reshape: the output shares the input's buffer; softmax: dropped, programs output logits


# ---- building the Program -------------------------------------------------------------------------------------------
def _logits_tensor(graph) -> str:
    out = graph.outputs[0]
    p = graph.producer(out)
    while p is not None and p.op in ("softmax",):
        out = p.inputs[0]
        p = graph.producer(out)
    return out


def build_program(graph, spec: UpdateSpec | str | None = None, precision: str = "fp32", reorder: bool = True,
                  scratch_cap: int = SCRATCH_CAP, grad_chunk_bytes: int = GRAD_CHUNK_BYTES) -> Program:
    """Lower ``graph`` for ``precision`` and differentiate it for ``spec`` (an UpdateSpec or a shorthand).

    ``reorder``: apply each update right after its gradient (see toolkit.train.autodiff); in int8 mode the weight
    gradient of a layer is then also computed and applied in chunks of output channels of at most
    ``grad_chunk_bytes`` FP32 gradient (0: one chunk), bit-identical to one chunk."""
    from toolkit.train import autodiff

    if precision not in PRECISIONS:
        raise OdlError(f"precision {precision!r} unknown; use one of {', '.join(PRECISIONS)}")
    if spec is None:
        spec = UpdateSpec.shorthand_spec("last-layer")
    elif isinstance(spec, str):
        spec = UpdateSpec.parse(spec)
    graph.validate()
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise OdlError(f"graph {graph.name}: training needs exactly one input and one output")
    _check_dtypes(graph, precision)
    rs = spec.resolve(graph)
    b = Builder(graph, precision, spec, rs, scratch_cap=scratch_cap, grad_chunk_bytes=int(grad_chunk_bytes),
                reorder_now=reorder)
    # reshape aliasing (union of each reshape's output into its input's class)
    for n in graph.nodes:
        if n.op in ("reshape", "softmax"):
            b.root[n.outputs[0]] = b.r(n.inputs[0])
    logits_t = _logits_tensor(graph)
    in_t = graph.inputs[0]
    if b.r(logits_t) == b.r(in_t):
        raise OdlError(f"graph {graph.name}: the output is the input")

    # io buffers
    adt = "int8" if precision == "int8" else b.fdt
    b.val[b.r(in_t)] = b.add("input", b.t(in_t).shape, adt, "io", "input", ir_name=in_t, tensor_id=True)
    b.val[b.r(logits_t)] = b.add("logits", b.t(logits_t).shape, adt, "io", "logits", ir_name=logits_t,
                                 tensor_id=True)
    label = b.add("label", (1,), "int32", "io", "label", tensor_id=True)
    loss = b.add("loss", (1,), "float32", "io", "loss", tensor_id=True)
    lr = b.add("lr", (1,), "float32", "sram", "lr", init=np.array([spec.lr], np.float32), tensor_id=True)
    step = b.add("step", (1,), "int32", "sram", "step", init=np.zeros(1, np.int32), tensor_id=True)

    # params: trainable -> sram, frozen -> flash
    trainable_params = set()
    for lname, ch in rs.weights.items():
        trainable_params.add(_node(graph, lname).inputs[1])
    for lname, ch in rs.biases.items():
        trainable_params.add(_node(graph, lname).inputs[2])
    for t in graph.params():
        data = t.data
        if data is None:
            raise OdlError(f"param {t.name} has no data")
        if precision == "fp16":
            data = np.asarray(data, np.float32).astype(np.float16)
            dt = "float16"
        elif precision == "fp32":
            data, dt = np.asarray(data, np.float32), "float32"
        else:
            dt = t.dtype
        kind = "bias" if t.dtype == "int32" or _is_bias(graph, t.name) else "weight"
        if t.name in trainable_params:
            b.val[t.name] = b.add("p_" + t.name, t.shape, dt, "sram", kind, init=data, ir_name=t.name,
                                  tensor_id=True)
        else:
            b.val[t.name] = b.add("c_" + t.name, t.shape, dt, "flash", kind, init=data, ir_name=t.name)

    # which tensors need a gradient
    for t in graph.tensors:
        b.rg[t] = t in trainable_params
    for n in graph.nodes:
        if any(b.rg.get(i) for i in n.inputs):
            for o in n.outputs:
                b.rg[o] = True

    nodes = [n for n in graph.nodes if n.op != "softmax" or n.outputs[0] != graph.outputs[0]]
    infer: list[Step] = []
    for n in nodes:
        if n.op not in FWD:
            raise LoweringError(f"node {n.name}: op {n.op} has no lowering")
        infer += FWD[n.op](b, n, "infer")
    train: list[Step] = []
    if spec.schedule == "cosine":
        train.append(Step("odl_lr_cosine_f32", [Buf(lr), Buf(step), Float(float(spec.lr)), Int(spec.total_steps)],
                          "update", "lr_schedule"))
    for n in nodes:
        train += FWD[n.op](b, n, "train")
    train += autodiff.loss_steps(b, logits_t, label, loss)
    train += autodiff.backward(b, nodes, logits_t, reorder)

    prog = Program(graph=graph, precision=precision, spec=spec, buffers=b.buffers, infer=infer, train=train,
                   input=b.val[b.r(in_t)], label=label, logits=b.val[b.r(logits_t)], loss=loss, lr=lr,
                   step_counter=step, reorder=reorder,
                   meta={"resolved": {"weights": {k: v.tolist() for k, v in rs.weights.items()},
                                      "biases": {k: v.tolist() for k, v in rs.biases.items()}},
                         "logits_tensor": logits_t})
    _fill_access(prog)
    _check(prog)
    return prog


def _node(graph, name):
    for n in graph.nodes:
        if n.name == name:
            return n
    raise OdlError(f"no node {name}")


def _is_bias(graph, pname: str) -> bool:
    return any(n.op in LAYER_OPS and len(n.inputs) >= 3 and n.inputs[2] == pname for n in graph.nodes)


def _check_dtypes(graph, precision: str) -> None:
    acts = [t for t in graph.tensors.values() if t.kind != "param"]
    if precision == "int8":
        bad = [t.name for t in acts if t.dtype != "int8"]
        if bad:
            raise OdlError(f"precision int8 needs an int8 graph (quantize it first with toolkit.quant.ptq); "
                           f"float tensors: {bad[:5]}")
    else:
        bad = [t.name for t in acts if t.dtype not in ("float32", "float16")]
        if bad:
            raise OdlError(f"precision {precision} needs a float graph; tensors {bad[:5]} are {acts[0].dtype}")


def _fill_access(prog: Program) -> None:
    from toolkit.train.autodiff import READ_WRITE, WRITES

    for mode in ("train", "infer"):
        writes, reads = prog.access(mode)
        writes.clear()
        reads.clear()
        for i, s in enumerate(prog.steps(mode)):
            if s.kernel not in WRITES:
                raise OdlError(f"kernel {s.kernel} has no entry in toolkit.train.autodiff.WRITES")
            w_idx, rw_idx = WRITES[s.kernel], READ_WRITE.get(s.kernel, ())
            w, r = [], []
            for j, a in enumerate(s.args):
                if not isinstance(a, Buf):
                    continue
                if j in w_idx and a.name not in w:
                    w.append(a.name)
                if (j not in w_idx or j in rw_idx) and a.name not in r:
                    r.append(a.name)
            writes[i], reads[i] = w, r


def _check(prog: Program) -> None:
    """Every arena buffer is written before it is read, in both step lists."""
    for mode in ("infer", "train"):
        writes, reads = prog.access(mode)
        seen: set = set()
        for i, s in enumerate(prog.steps(mode)):
            for n in reads[i]:
                if prog.buffers[n].storage == "arena" and n not in seen:
                    raise OdlError(f"internal: {mode} step {i} ({s.kernel}, node {s.node}) reads arena buffer {n} "
                                   f"before any step writes it")
            seen.update(writes[i])
