"""Reference interpreters of an IR graph, in numpy: the numbers the compiled C must reproduce.

- ``run_float(graph, x, dtype)``: float32, float64, or float16 storage (every parameter and every activation is
  rounded to float16; each op computes in float32 from its float16 inputs, then rounds its output).
- ``run_int8(graph, x_q)``: int8 inference with TFLite's integer arithmetic, op by op through
  ``toolkit.quant.tflite_ref`` with the fixed-point parameters of ``toolkit.quant.params``
  (see ``node_int8_params``).

Both take NHWC input with any batch size N (the IR describes batch 1; every op here maps over N) and return a dict
``tensor name -> array`` holding the input and EVERY activation, so a training compiler can read saved activations.

Padding in int8: the C kernels and tflite_ref know TFLite's SAME / VALID only. ``int8_padding`` maps an IR node's
explicit pad to SAME or VALID when it is one of them; otherwise (e.g. torch's k3 s2 p1 on an even size, whose
leading pad is 1 where SAME's is 0) the input is padded explicitly — with the input zero point for conv /
depthwise (a padded tap then contributes 0, exactly like TFLite's implicit padding) and with -128 for max pool — and
the op runs VALID. Average pooling cannot be padded that way (padded taps must not be counted): such a graph is
refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.errors import DTypeError, OdlError, ShapeError
from toolkit.ir.graph import Graph, Node, conv_out

FLOAT_MODES = ("float32", "float64", "float16")


# ---- float ------------------------------------------------------------------------------------------------------
def _pad_nhwc(x, pad, value=0.0):
    pt, pb, pl, pr = (int(p) for p in pad)
    if not any((pt, pb, pl, pr)):
        return x
    return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)


def _windows(x, kernel, stride, dilation, pad, value=0.0):
    """[N, OH, OW, KH, KW, C] view of the (padded) input's windows."""
    kh, kw = kernel
    sh, sw = stride
    dh, dw = dilation
    xp = _pad_nhwc(x, pad, value)
    n, h, w, c = xp.shape
    oh = (h - ((kh - 1) * dh + 1)) // sh + 1
    ow = (w - ((kw - 1) * dw + 1)) // sw + 1
    s = xp.strides
    return np.lib.stride_tricks.as_strided(xp, (n, oh, ow, kh, kw, c),
                                           (s[0], s[1] * sh, s[2] * sw, s[1] * dh, s[2] * dw, s[3]), writeable=False)


def _act_float(y, activation):
    if activation == "relu":
        return np.maximum(y, 0)
    if activation == "relu6":
        return np.clip(y, 0, 6)
    if activation in (None, "none"):
        return y
    raise OdlError(f"unknown activation {activation!r}")


def _float_node(n: Node, ins: list[np.ndarray]) -> np.ndarray:
    a = n.attrs
    if n.op == "conv2d":
        x, w, b = ins[0], ins[1], ins[2] if len(ins) > 2 else None
        win = _windows(x, a["kernel"], a["stride"], a["dilation"], a["pad"])
        y = np.einsum("nhwijc,oijc->nhwo", win, w, optimize=True)
        y = y + b if b is not None else y
        return _act_float(y, a["activation"])
    if n.op == "depthwise_conv2d":
        x, w, b = ins[0], ins[1], ins[2] if len(ins) > 2 else None
        m = int(a["depth_multiplier"])
        win = _windows(x, a["kernel"], a["stride"], a["dilation"], a["pad"])
        if m != 1:
            win = np.repeat(win, m, axis=5)
        y = np.einsum("nhwijc,ijc->nhwc", win, w[0], optimize=True)
        y = y + b if b is not None else y
        return _act_float(y, a["activation"])
    if n.op == "fully_connected":
        x, w, b = ins[0], ins[1], ins[2] if len(ins) > 2 else None
        y = x @ w.T
        y = y + b if b is not None else y
        return _act_float(y, a["activation"])
    if n.op == "relu":
        return np.maximum(ins[0], 0)
    if n.op == "relu6":
        return np.clip(ins[0], 0, 6)
    if n.op == "add":
        return _act_float(ins[0] + ins[1], a["activation"])
    if n.op == "max_pool2d":
        win = _windows(ins[0], a["kernel"], a["stride"], (1, 1), a["pad"], -np.inf)
        return win.max(axis=(3, 4))
    if n.op == "avg_pool2d":
        x = ins[0]
        win = _windows(x, a["kernel"], a["stride"], (1, 1), a["pad"])
        ones = np.ones((1,) + x.shape[1:3] + (1,), dtype=x.dtype)
        cnt = _windows(ones, a["kernel"], a["stride"], (1, 1), a["pad"]).sum(axis=(3, 4))
        return win.sum(axis=(3, 4)) / cnt
    if n.op == "global_avg_pool":
        return ins[0].mean(axis=(1, 2), keepdims=True)
    if n.op == "reshape":
        return ins[0].reshape((ins[0].shape[0],) + tuple(a["shape"])[1:])
    if n.op == "softmax":
        e = np.exp(ins[0] - ins[0].max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise OdlError(f"node {n.name}: the float interpreter has no op {n.op!r}")


def _batch_input(graph: Graph, x, kinds: str, what: str) -> np.ndarray:
    t = graph.tensor(graph.inputs[0])
    x = np.asarray(x)
    if x.dtype.kind not in kinds:
        raise DTypeError(f"{what}: expected {'a float' if kinds == 'f' else 'an int8'} array, got {x.dtype}")
    if x.ndim == len(t.shape) - 1:
        x = x[None]
    if x.shape[1:] != t.shape[1:]:
        raise ShapeError(f"{what}: expected shape (N,) + {t.shape[1:]} (NHWC), got {x.shape}")
    return x


def run_float(graph: Graph, x, dtype: str = "float32") -> dict[str, np.ndarray]:
    """Float inference of ``graph`` on NHWC input ``x`` ([N,H,W,C] or [H,W,C]); returns every tensor by name.
    ``dtype``: "float32", "float64" or "float16" (float16 storage, float32 arithmetic)."""
    if dtype not in FLOAT_MODES:
        raise OdlError(f"dtype must be one of {', '.join(FLOAT_MODES)}, got {dtype!r}")
    store = np.dtype(dtype)
    ct = np.float32 if dtype == "float16" else store
    x = _batch_input(graph, x, "f", "x")
    env: dict[str, np.ndarray] = {graph.inputs[0]: x.astype(store)}
    for t in graph.params():
        if t.data is None:
            raise OdlError(f"parameter {t.name} has no data")
        if t.dtype not in ("float32", "float16"):
            raise DTypeError(f"parameter {t.name} is {t.dtype}: run_float needs a float graph (use run_int8)")
        env[t.name] = t.data.astype(store)
    for n in graph.nodes:
        ins = [env[i].astype(ct, copy=False) for i in n.inputs]
        y = _float_node(n, ins)
        env[n.outputs[0]] = np.asarray(y).astype(store)
    return env


# ---- int8 -------------------------------------------------------------------------------------------------------
def int8_padding(node: Node, in_shape) -> tuple[str, tuple[int, int, int, int]]:
    """(mode, extra) for an int8 kernel: mode "SAME" or "VALID" as TFLite computes them, and the explicit padding
    (top, bottom, left, right) to apply to the input first (all zero when the IR pad is exactly SAME or VALID)."""
    from toolkit.quant.tflite_ref import out_size_and_padding

    a = node.attrs
    _, h, w, _ = in_shape
    kh, kw = a["kernel"]
    sh, sw = a["stride"]
    dh, dw = a.get("dilation", (1, 1))
    pad = tuple(int(p) for p in a["pad"])
    if pad == (0, 0, 0, 0):
        return "VALID", (0, 0, 0, 0)
    oh = conv_out(h, kh, sh, dh, pad[0], pad[1])
    ow = conv_out(w, kw, sw, dw, pad[2], pad[3])
    soh, spt = out_size_and_padding(h, kh, sh, dh, "SAME")
    sow, spl = out_size_and_padding(w, kw, sw, dw, "SAME")
    if (soh, sow, spt, spl) == (oh, ow, pad[0], pad[2]):
        # SAME's trailing padding is implied; the IR's may be larger than needed but never reaches an output
        return "SAME", (0, 0, 0, 0)
    return "VALID", pad


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLite CalculateActivationRangeQuantized for int8: the clamp of a fused relu / relu6 in the output's
    quantization (round(f / scale) in float32, halves away from zero)."""
    def q(f):
        v = np.float32(f) / np.float32(scale)
        return int(zero_point) + int(np.sign(v) * np.floor(np.abs(v) + np.float32(0.5)))

    if activation in (None, "none"):
        return -128, 127
    if activation == "relu":
        return max(-128, q(0.0)), 127
    if activation == "relu6":
        return max(-128, q(0.0)), min(127, q(6.0))
    raise OdlError(f"unknown activation {activation!r}")


@dataclass
class Int8Params:
    """Everything an int8 kernel call for one node needs (TFLite conventions: zero points, not offsets)."""

    op: str
    input_zp: int = 0
    output_zp: int = 0
    multiplier: np.ndarray | None = None  # int32 per channel (conv / depthwise / fc) or None
    shift: np.ndarray | None = None
    act_min: int = -128
    act_max: int = 127
    padding: str = "VALID"  # SAME / VALID for conv, depthwise and pools
    pre_pad: tuple[int, int, int, int] = (0, 0, 0, 0)  # explicit padding applied to the input first
    pre_pad_value: int = 0
    add: object | None = None  # toolkit.quant.params.AddParams
    mean: tuple[int, int] | None = None  # (multiplier, shift) of global_avg_pool


def _q(graph: Graph, name: str):
    t = graph.tensor(name)
    if t.quant is None:
        raise OdlError(f"tensor {name} has no quantization parameters (run toolkit.quant.ptq.quantize first)")
    return t.quant


def node_int8_params(graph: Graph, n: Node, single_rounding: bool = False) -> Int8Params:
    """The TFLite int8 parameters of node ``n`` (derived from the scales on its tensors via toolkit.quant.params)."""
    from toolkit.quant import params as qp

    if n.op in ("conv2d", "depthwise_conv2d", "fully_connected"):
        qi, qw, qo = _q(graph, n.inputs[0]), _q(graph, n.inputs[1]), _q(graph, n.outputs[0])
        m, s = qp.conv_requant_params(qi.scale[0], qw.scale, qo.scale[0], single_rounding=single_rounding)
        lo, hi = activation_range(n.attrs["activation"], qo.scale[0], qo.zero_point[0])
        p = Int8Params(n.op, int(qi.zero_point[0]), int(qo.zero_point[0]), m, s, lo, hi)
        if n.op != "fully_connected":
            p.padding, p.pre_pad = int8_padding(n, graph.tensor(n.inputs[0]).shape)
            p.pre_pad_value = p.input_zp
        return p
    if n.op == "add":
        qa, qb, qo = _q(graph, n.inputs[0]), _q(graph, n.inputs[1]), _q(graph, n.outputs[0])
        lo, hi = activation_range(n.attrs["activation"], qo.scale[0], qo.zero_point[0])
        ap = qp.add_params(qa.scale[0], qa.zero_point[0], qb.scale[0], qb.zero_point[0], qo.scale[0],
                           qo.zero_point[0], single_rounding=single_rounding)
        return Int8Params(n.op, int(qa.zero_point[0]), int(qo.zero_point[0]), act_min=lo, act_max=hi, add=ap)
    if n.op in ("max_pool2d", "avg_pool2d"):
        qi, qo = _q(graph, n.inputs[0]), _q(graph, n.outputs[0])
        _same_quant(n, qi, qo)
        mode, pre = int8_padding(n, graph.tensor(n.inputs[0]).shape)
        if n.op == "avg_pool2d" and any(pre):
            raise OdlError(f"node {n.name}: avg_pool2d padding {n.attrs['pad']} is neither TFLite SAME nor VALID; "
                           "int8 average pooling cannot express it")
        return Int8Params(n.op, int(qi.zero_point[0]), int(qo.zero_point[0]), padding=mode, pre_pad=pre,
                          pre_pad_value=-128)
    if n.op == "global_avg_pool":
        qi, qo = _q(graph, n.inputs[0]), _q(graph, n.outputs[0])
        m, s, _same = qp.mean_params(qi.scale[0], qi.zero_point[0], qo.scale[0], qo.zero_point[0],
                                     single_rounding=single_rounding)
        return Int8Params(n.op, int(qi.zero_point[0]), int(qo.zero_point[0]), mean=(m, s))
    if n.op in ("relu", "relu6", "reshape"):
        qi, qo = _q(graph, n.inputs[0]), _q(graph, n.outputs[0])
        _same_quant(n, qi, qo)
        lo, hi = activation_range("none" if n.op == "reshape" else n.op, qo.scale[0], qo.zero_point[0])
        return Int8Params(n.op, int(qi.zero_point[0]), int(qo.zero_point[0]), act_min=lo, act_max=hi)
    raise OdlError(f"node {n.name}: no int8 implementation of op {n.op!r}")


def _same_quant(n: Node, qi, qo):
    if np.float32(qi.scale[0]) != np.float32(qo.scale[0]) or int(qi.zero_point[0]) != int(qo.zero_point[0]):
        raise OdlError(f"node {n.name} ({n.op}): input and output quantization must be equal in int8 "
                       f"(got {qi.scale[0]}/{qi.zero_point[0]} and {qo.scale[0]}/{qo.zero_point[0]})")


def _pre_pad(x, p: Int8Params):
    return _pad_nhwc(x, p.pre_pad, p.pre_pad_value) if any(p.pre_pad) else x


def run_int8(graph: Graph, x_q, single_rounding: bool = False) -> dict[str, np.ndarray]:
    """int8 inference of a quantized ``graph`` on int8 NHWC input; returns every tensor (int8) by name."""
    from toolkit.quant import tflite_ref as ref

    x_q = _batch_input(graph, x_q, "i", "x_q")
    if x_q.dtype != np.int8:
        raise DTypeError(f"x_q: expected int8, got {x_q.dtype}")
    env: dict[str, np.ndarray] = {graph.inputs[0]: x_q}
    for t in graph.params():
        env[t.name] = t.data
    for n in graph.nodes:
        p = node_int8_params(graph, n, single_rounding)
        ins = [env[i] for i in n.inputs]
        a = n.attrs
        sr = single_rounding
        if n.op == "conv2d":
            y = ref.conv2d(_pre_pad(ins[0], p), ins[1], ins[2] if len(ins) > 2 else None, -p.input_zp, p.output_zp,
                           p.multiplier, p.shift, a["stride"], a["dilation"], p.padding, p.act_min, p.act_max, sr)
        elif n.op == "depthwise_conv2d":
            y = ref.depthwise_conv2d(_pre_pad(ins[0], p), ins[1], ins[2] if len(ins) > 2 else None,
                                     int(a["depth_multiplier"]), -p.input_zp, p.output_zp, p.multiplier, p.shift,
                                     a["stride"], a["dilation"], p.padding, p.act_min, p.act_max, sr)
        elif n.op == "fully_connected":
            y = ref.fully_connected(ins[0], ins[1], ins[2] if len(ins) > 2 else None, -p.input_zp, p.output_zp,
                                    p.multiplier, p.shift, p.act_min, p.act_max, sr)
        elif n.op == "add":
            y = ref.add(ins[0], ins[1], p.add, p.act_min, p.act_max, sr)
        elif n.op == "max_pool2d":
            y = ref.max_pool(_pre_pad(ins[0], p), a["kernel"], a["stride"], p.padding)
        elif n.op == "avg_pool2d":
            y = ref.avg_pool(ins[0], a["kernel"], a["stride"], p.padding)
        elif n.op == "global_avg_pool":
            y = ref.mean_hw(ins[0], p.input_zp, p.output_zp, p.mean[0], p.mean[1], single_rounding=sr)
        elif n.op in ("relu", "relu6"):
            y = np.clip(ins[0], p.act_min, p.act_max).astype(np.int8)
        elif n.op == "reshape":
            y = ins[0].reshape((ins[0].shape[0],) + tuple(a["shape"])[1:])
        else:  # pragma: no cover - node_int8_params already refused it
            raise OdlError(f"node {n.name}: no int8 implementation of op {n.op!r}")
        env[n.outputs[0]] = y
    return env
