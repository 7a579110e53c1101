"""int8 post-training quantization of an fp32 IR graph, with TFLite's converter formulas.

- Activations (and the graph input): asymmetric per-tensor int8 from the calibration min / max, the range first
  widened to include 0, then TFLite's GetAsymmetricQuantizationParams (float32 arithmetic; the zero point rounded
  half away from zero, or clamped to [-128, 127]).
- Weights: symmetric int8 in [-127, 127], zero point 0, per output channel (axis 0 for conv2d / fully_connected,
  axis 3 for depthwise 1HWC weights) or per tensor (``per_channel=False``); TFLite's
  SymmetricPerChannelQuantization: scale = max|w| / 127, q = round(w * (127 / max|w|)).
- Biases: int32, scale[c] = float32(input_scale * weight_scale[c]), zero point 0, q = round(b * (1 / scale)).
- A fused relu / relu6 is already part of its node's output, so that output is calibrated after the activation
  (as the converter does). max/avg pool, reshape and a standalone relu / relu6 keep their input's quantization
  (TFLite requires it for pools and reshape); global_avg_pool and add get their own calibrated output parameters;
  the graph output (logits) is int8.

Only scales and zero points are stored (``Tensor.quant``); the fixed-point multipliers / shifts are derived from them
by ``toolkit.quant.params`` (see ``toolkit.ir.interp.node_int8_params``). Degenerate ranges: a weight channel that is
all zero gets scale 1.0; an activation that is always 0 gets scale 1.0, zero point -128 (TFLite would store 0, which
no kernel accepts). The calibration range of every tensor is kept in ``graph.meta["calibration"]``.
"""

from __future__ import annotations

import copy

import numpy as np

from toolkit.errors import DTypeError, OdlError, ShapeError
from toolkit.ir.graph import Graph, Quant

KEEPS_INPUT_QUANT = ("max_pool2d", "avg_pool2d", "reshape", "relu", "relu6")
OWN_OUTPUT_QUANT = ("conv2d", "depthwise_conv2d", "fully_connected", "add", "global_avg_pool")


def round_half_away(x) -> np.ndarray:
    """TfLiteRound / std::round on float32 values: halves away from zero (evaluated exactly in float64)."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def asymmetric_params(rmin: float, rmax: float, qmin: int = -128, qmax: int = 127) -> tuple[float, int]:
    """TFLite GetAsymmetricQuantizationParams: (scale, zero_point) of a float range (float32 arithmetic)."""
    f = np.float32
    lo = min(f(rmin), f(0.0))
    hi = max(f(rmax), f(0.0))
    scale = f(f(hi - lo) / f(f(qmax) - f(qmin)))
    if scale == 0:
        return 1.0, int(qmin)
    zp_from_min = f(f(qmin) - f(lo / scale))
    if zp_from_min < f(qmin):
        zp = qmin
    elif zp_from_min > f(qmax):
        zp = qmax
    else:
        zp = int(round_half_away(zp_from_min))
    return float(scale), int(zp)


def symmetric_weights(w: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weights, float32 scales) of TFLite's symmetric per-channel (axis) or per-tensor (axis None) scheme."""
    w = np.asarray(w, dtype=np.float32)
    if axis is None:
        half = np.array([np.abs(w).max() if w.size else 0.0], dtype=np.float32)
        shape = (1,) * w.ndim
    else:
        other = tuple(i for i in range(w.ndim) if i != axis)
        half = np.maximum(np.abs(w.min(axis=other)), np.abs(w.max(axis=other))).astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
    zero = half == 0
    scales = np.where(zero, np.float32(1.0), half / np.float32(127)).astype(np.float32)
    inv = np.where(zero, np.float32(0.0), np.float32(127) / np.where(zero, 1, half)).astype(np.float32)
    q = round_half_away((w * inv.reshape(shape)).astype(np.float32))
    return np.clip(q, -127, 127).astype(np.int8), scales


def bias_int32(b: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int32 bias, float32 scales) as TFLite's SymmetricPerChannelBiasQuantize: scale = in_scale * w_scale[c]."""
    scales = (np.float32(input_scale) * np.asarray(weight_scales, dtype=np.float32)).astype(np.float32)
    scales = np.broadcast_to(scales, np.shape(b)).astype(np.float32)
    inv = (1.0 / scales.astype(np.float64)).astype(np.float32)
    q = round_half_away((np.asarray(b, dtype=np.float32) * inv).astype(np.float32))
    lim = 2**31 - 1
    return np.clip(q, -lim, lim).astype(np.int32), scales


def input_to_nhwc(graph: Graph, x) -> np.ndarray:
    """Samples in the model's own layout (NCHW for PyTorch models; a single sample may omit N) -> NHWC batch."""
    t = graph.tensor(graph.inputs[0])
    x = np.asarray(x)
    layout = graph.meta.get("input_layout", "NHWC")
    if x.ndim == len(t.shape) - 1:
        x = x[None]
    if x.ndim != len(t.shape):
        raise ShapeError(f"input: expected {len(t.shape)} dimensions (N first, layout {layout}), got {x.shape}")
    if layout == "NCHW" and x.ndim == 4:
        x = x.transpose(0, 2, 3, 1)
    if x.shape[1:] != t.shape[1:]:
        want = (t.shape[3],) + t.shape[1:3] if layout == "NCHW" else t.shape[1:]
        raise ShapeError(f"input: expected samples of shape {tuple(want)} ({layout}), got {np.asarray(x).shape}")
    return np.ascontiguousarray(x)


def calibrate(graph: Graph, calib, batch: int | None = None) -> dict[str, tuple[float, float]]:
    """Float32 (min, max) of the input and every activation over the calibration samples (run in batches of
    ``batch`` samples; by default as many as keep every activation of a batch within ~256 MB, at most 64)."""
    from toolkit.ir.interp import run_float

    if batch is None:
        per_sample = sum(t.size * 4 for t in graph.tensors.values() if t.kind != "param")
        batch = int(max(1, min(64, (256 << 20) // max(1, per_sample))))
    x = input_to_nhwc(graph, calib)
    if x.dtype.kind != "f":
        raise DTypeError(f"calib: expected float samples, got {x.dtype}")
    if x.shape[0] == 0:
        raise OdlError("calib: no calibration samples")
    ranges: dict[str, tuple[float, float]] = {}
    for i in range(0, x.shape[0], batch):
        env = run_float(graph, x[i:i + batch].astype(np.float32), "float32")
        for name, v in env.items():
            if graph.tensor(name).kind == "param":
                continue
            lo, hi = float(v.min()), float(v.max())
            if name in ranges:
                lo, hi = min(lo, ranges[name][0]), max(hi, ranges[name][1])
            ranges[name] = (lo, hi)
    return ranges


def quantize(graph: Graph, calib, per_channel: bool = True) -> Graph:
    """An int8 copy of the fp32 ``graph``, calibrated on ``calib`` (N samples, float32, in the model's own layout:
    NCHW for PyTorch models)."""
    if graph.meta.get("precision", "fp32") != "fp32":
        raise OdlError(f"graph {graph.name} is already {graph.meta.get('precision')}; quantize an fp32 graph")
    for t in graph.params():
        if t.dtype != "float32" or t.data is None:
            raise OdlError(f"parameter {t.name}: expected float32 data, got {t.dtype}")
    ranges = calibrate(graph, calib)
    g = copy.deepcopy(graph)
    qs: dict[str, Quant] = {}

    def act_quant(name):
        s, z = asymmetric_params(*ranges[name])
        return Quant([s], [z])

    qs[g.inputs[0]] = act_quant(g.inputs[0])
    for n in g.nodes:
        out = n.outputs[0]
        if n.op in KEEPS_INPUT_QUANT:
            qs[out] = copy.deepcopy(qs[n.inputs[0]])
        elif n.op in OWN_OUTPUT_QUANT:
            qs[out] = act_quant(out)
        else:
            raise OdlError(f"node {n.name}: op {n.op} cannot be quantized to int8")
        if n.op in ("conv2d", "depthwise_conv2d", "fully_connected"):
            w = g.tensor(n.inputs[1])
            axis = 3 if n.op == "depthwise_conv2d" else 0
            wq, ws = symmetric_weights(w.data, axis if per_channel else None)
            w.data, w.dtype = wq, "int8"
            w.quant = Quant([float(s) for s in ws], [0] * len(ws), axis if per_channel else None)
            if len(n.inputs) > 2:
                b = g.tensor(n.inputs[2])
                bq, bs = bias_int32(b.data, qs[n.inputs[0]].scale[0], ws)
                b.data, b.dtype = bq, "int32"
                b.quant = Quant([float(s) for s in bs], [0] * len(bs), 0)
    for name, q in qs.items():
        t = g.tensor(name)
        t.quant, t.dtype = q, "int8"
    g.meta = dict(g.meta, precision="int8", per_channel=bool(per_channel),
                  calibration={k: [float(v[0]), float(v[1])] for k, v in ranges.items()},
                  calibration_samples=int(input_to_nhwc(graph, calib).shape[0]))
    return g.validate()


def quantize_input(graph: Graph, x_float) -> np.ndarray:
    """Float samples in the model's own layout -> int8 NHWC with the input tensor's quantization (TFLite QUANTIZE:
    round(x / scale) in float32, + zero point, clamped)."""
    q = graph.tensor(graph.inputs[0]).quant
    if q is None:
        raise OdlError(f"graph {graph.name}: the input has no quantization (quantize the graph first)")
    x = input_to_nhwc(graph, x_float)
    if x.dtype.kind != "f":
        raise DTypeError(f"x_float: expected float samples, got {x.dtype}")
    v = round_half_away((x.astype(np.float32) / np.float32(q.scale[0])).astype(np.float32)) + q.zero_point[0]
    return np.clip(v, -128, 127).astype(np.int8)


def dequantize_output(graph: Graph, q_out, tensor: str | None = None) -> np.ndarray:
    """int8 values of the graph output (or of ``tensor``) -> float32: scale * (q - zero_point)."""
    t = graph.tensor(tensor or graph.outputs[0])
    if t.quant is None:
        raise OdlError(f"tensor {t.name} has no quantization")
    q = np.asarray(q_out)
    if q.dtype != np.int8:
        raise DTypeError(f"q_out: expected int8, got {q.dtype}")
    return (float(np.float32(t.quant.scale[0])) * (q.astype(np.float64) - t.quant.zero_point[0])).astype(np.float32)


__all__ = ["quantize", "quantize_input", "dequantize_output", "calibrate", "asymmetric_params", "symmetric_weights",
           "bias_int32", "round_half_away"]
