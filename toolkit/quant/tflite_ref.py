"""A numpy model of TFLite's int8 reference kernels (tensorflow/lite/kernels/internal/reference/integer_ops and
TFLite Micro's MEAN), written from TFLite's semantics and independently of odl's C kernels, which are tested
against it bit-exactly.

Conventions are TFLite's: ``input_offset = -input_zero_point``, ``output_offset = output_zero_point``; int32
accumulators are modelled in int64 (the tests keep them in int32 range). ``single_rounding=True`` models a
TFLite build with TFLITE_SINGLE_ROUNDING.
"""

from __future__ import annotations

import numpy as np

from toolkit.quant.fixedpoint import multiply_by_quantized_multiplier as _mbqm


def out_size_and_padding(in_size: int, k: int, stride: int, dilation: int, padding: str) -> tuple[int, int]:
    """TFLite ComputeOutSize + ComputePaddingWithOffset: (output size, leading padding)."""
    eff = (k - 1) * dilation + 1
    if padding == "SAME":
        out = (in_size + stride - 1) // stride
    elif padding == "VALID":
        out = (in_size + stride - eff) // stride
    else:
        raise ValueError(f"padding must be SAME or VALID, got {padding!r}")
    total = max((out - 1) * stride + eff - in_size, 0)
    return out, (total // 2 if padding == "SAME" else 0)


def _c_div(a: np.ndarray, b) -> np.ndarray:
    """C integer division (truncation toward zero)."""
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (np.asarray(b) < 0), -q, q)


def _requant(acc, mult, shift, output_offset, act_min, act_max, single_rounding):
    v = _mbqm(acc, np.asarray(mult, np.int64), np.asarray(shift, np.int64), single_rounding=single_rounding)
    return np.clip(v + output_offset, act_min, act_max).astype(np.int8)


def _taps(x, kh, kw, stride, dilation, padding):
    """Yield (ky, kx, values [N,OH,OW,C] int64 with invalid taps as None-masked, valid mask [OH,OW])."""
    n, h, w, c = x.shape
    oh, pt = out_size_and_padding(h, kh, stride[0], dilation[0], padding)
    ow, pl = out_size_and_padding(w, kw, stride[1], dilation[1], padding)
    oy = np.arange(oh) * stride[0] - pt
    ox = np.arange(ow) * stride[1] - pl
    for ky in range(kh):
        iy = oy + ky * dilation[0]
        vy = (iy >= 0) & (iy < h)
        for kx in range(kw):
            ix = ox + kx * dilation[1]
            vx = (ix >= 0) & (ix < w)
            vals = x[:, np.clip(iy, 0, h - 1)][:, :, np.clip(ix, 0, w - 1)].astype(np.int64)
            yield ky, kx, vals, vy[:, None] & vx[None, :], (oh, ow)


def conv2d(x, w, bias, input_offset, output_offset, multiplier, shift, stride=(1, 1), dilation=(1, 1),
           padding="SAME", act_min=-128, act_max=127, single_rounding=False):
    """reference_integer_ops::ConvPerChannel. x [N,H,W,Cin], w [Cout,KH,KW,Cin] (OHWI)."""
    cout, kh, kw, _ = w.shape
    acc = None
    for ky, kx, vals, valid, (oh, ow) in _taps(x, kh, kw, stride, dilation, padding):
        v = np.where(valid[None, :, :, None], vals + input_offset, 0)
        term = np.einsum("nhwc,oc->nhwo", v, w[:, ky, kx, :].astype(np.int64))
        acc = term if acc is None else acc + term
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    mult = np.broadcast_to(np.asarray(multiplier, np.int64), (cout,))
    sh = np.broadcast_to(np.asarray(shift, np.int64), (cout,))
    return _requant(acc, mult, sh, output_offset, act_min, act_max, single_rounding)


def depthwise_conv2d(x, w, bias, depth_multiplier, input_offset, output_offset, multiplier, shift, stride=(1, 1),
                     dilation=(1, 1), padding="SAME", act_min=-128, act_max=127, single_rounding=False):
    """reference_integer_ops::DepthwiseConvPerChannel. w [1,KH,KW,Cin*mult]; out channel c*mult+m reads c."""
    _, kh, kw, cout = w.shape
    acc = None
    for ky, kx, vals, valid, _ in _taps(x, kh, kw, stride, dilation, padding):
        v = np.where(valid[None, :, :, None], vals + input_offset, 0)
        term = np.repeat(v, depth_multiplier, axis=3) * w[0, ky, kx, :].astype(np.int64)
        acc = term if acc is None else acc + term
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    mult = np.broadcast_to(np.asarray(multiplier, np.int64), (cout,))
    sh = np.broadcast_to(np.asarray(shift, np.int64), (cout,))
    return _requant(acc, mult, sh, output_offset, act_min, act_max, single_rounding)


def fully_connected(x, w, bias, input_offset, output_offset, multiplier, shift, act_min=-128, act_max=127,
                    single_rounding=False):
    """reference_integer_ops::FullyConnected (per-tensor) / FullyConnectedPerChannel, filter offset 0."""
    acc = (x.astype(np.int64) + input_offset) @ w.astype(np.int64).T
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    n = w.shape[0]
    mult = np.broadcast_to(np.asarray(multiplier, np.int64), (n,))
    sh = np.broadcast_to(np.asarray(shift, np.int64), (n,))
    return _requant(acc, mult, sh, output_offset, act_min, act_max, single_rounding)


def add(a, b, p, act_min=-128, act_max=127, single_rounding=False):
    """reference_integer_ops::Add with tflite::ArithmeticParams-like ``p`` (see toolkit.quant.params.AddParams).
    MultiplyByQuantizedMultiplierSmallerThanOneExp == MultiplyByQuantizedMultiplier for shifts <= 0."""
    x1 = (a.astype(np.int64) + p.input1_offset) * (1 << p.left_shift)
    x2 = (b.astype(np.int64) + p.input2_offset) * (1 << p.left_shift)
    s1 = _mbqm(x1, p.input1_multiplier, p.input1_shift, single_rounding=single_rounding)
    s2 = _mbqm(x2, p.input2_multiplier, p.input2_shift, single_rounding=single_rounding)
    raw = _mbqm(s1 + s2, p.output_multiplier, p.output_shift, single_rounding=single_rounding)
    return np.clip(raw + p.output_offset, act_min, act_max).astype(np.int8)


def _pool_taps(x, pool, stride, padding):
    return _taps(x, pool[0], pool[1], stride, (1, 1), padding)


def avg_pool(x, pool, stride, padding="VALID", act_min=-128, act_max=127):
    """reference_integer_ops::AveragePool: valid taps only, (acc +- count/2) / count with C division."""
    acc = 0
    count = 0
    for _, _, vals, valid, _ in _pool_taps(x, pool, stride, padding):
        acc = acc + np.where(valid[None, :, :, None], vals, 0)
        count = count + valid.astype(np.int64)
    count = count[None, :, :, None]
    if np.any(count == 0):
        raise ValueError("a pooling window lies entirely in the padding")
    half = count // 2
    out = np.where(acc > 0, _c_div(acc + half, count), _c_div(acc - half, count))
    return np.clip(out, act_min, act_max).astype(np.int8)


def max_pool(x, pool, stride, padding="VALID", act_min=-128, act_max=127):
    """reference_integer_ops::MaxPool: max over valid taps (starting from the int8 lowest), then clamp."""
    mx = None
    for _, _, vals, valid, _ in _pool_taps(x, pool, stride, padding):
        v = np.where(valid[None, :, :, None], vals, -128)
        mx = v if mx is None else np.maximum(mx, v)
    return np.clip(mx, act_min, act_max).astype(np.int8)


def mean_hw(x, in_zp, out_zp, multiplier, shift, truncating=False, single_rounding=False):
    """TFLite Micro int8 MEAN over axes (1, 2), keepdims: reference_ops::QuantizedMeanOrSum, which current TFLM uses
    for every int8 MEAN (1/count folded into the multiplier). truncating=True: older TFLM's path for equal input and
    output quantization, reference_ops::Mean (int32 sum, C division)."""
    n, h, w, c = x.shape
    count = h * w
    total = x.astype(np.int64).sum(axis=(1, 2), keepdims=True)
    if truncating:
        return _c_div(total, count).astype(np.int8)
    s = min(count.bit_length() - 1, 32, 31 + int(shift))
    mult = (int(multiplier) << s) // count  # positive operands: floor == C truncation
    sh = int(shift) - s
    v = _mbqm(total - int(in_zp) * count, mult, sh, single_rounding=single_rounding) + int(out_zp)
    return np.clip(v, -128, 127).astype(np.int8)


def requantize(x, in_zp, out_zp, multiplier, shift, single_rounding=False):
    """reference_ops::Requantize for int8 -> int8."""
    v = _mbqm(x.astype(np.int64) - int(in_zp), multiplier, shift, single_rounding=single_rounding) + int(out_zp)
    return np.clip(v, -128, 127).astype(np.int8)
