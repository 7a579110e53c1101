"""Float scales -> TFLite fixed-point parameters, computed exactly as TFLite / TFLite Micro compute them.

TFLite stores scales as float32 and promotes them to double before dividing (kernel_util.cc
PopulateConvolutionQuantizationParams, add_common.cc CalculateOpDataAdd, reduce_common.cc PrepareMeanOrSum,
quantize_common.cc PrepareQuantizeReference); every function here first rounds its scales to float32 the same way,
so Python floats and numpy float32 scales give the same parameters as the interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.errors import OdlError
from toolkit.quant.fixedpoint import quantize_multiplier


def _f32(x) -> float:
    """A TFLite tensor scale: a float32, promoted to double."""
    v = float(np.float32(x))
    if not np.isfinite(v) or v <= 0.0:
        raise OdlError(f"quantization scale must be a positive finite number, got {x!r}")
    return v


def conv_requant_params(in_scale, w_scales, out_scale, single_rounding: bool = False):
    """Per-channel (multiplier, shift) int32 arrays for conv / depthwise / fully connected:
    real[c] = double(in_scale) * double(w_scale[c]) / double(out_scale), then QuantizeMultiplier."""
    s_in, s_out = _f32(in_scale), _f32(out_scale)
    w = np.atleast_1d(np.asarray(w_scales, dtype=np.float64)).astype(np.float32)
    mult = np.empty(w.shape[0], dtype=np.int32)
    shift = np.empty(w.shape[0], dtype=np.int32)
    for i, ws in enumerate(w):
        m, s = quantize_multiplier(s_in * _f32(ws) / s_out, single_rounding=single_rounding)
        mult[i], shift[i] = m, s
    return mult, shift


def quantize_multiplier_smaller_than_one_exp(real: float, single_rounding: bool = False) -> tuple[int, int]:
    """TFLite QuantizeMultiplierSmallerThanOneExp: QuantizeMultiplier, and the shift must be <= 0."""
    m, s = quantize_multiplier(real, single_rounding=single_rounding)
    if s > 0:
        raise OdlError(f"multiplier {real!r} is not smaller than one (shift {s}); TFLite rejects these scales")
    return m, s


@dataclass(frozen=True)
class AddParams:
    """TFLite int8 ADD parameters (field names follow tflite::ArithmeticParams)."""

    input1_offset: int
    input2_offset: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    output_offset: int


def add_params(a_scale, a_zp, b_scale, b_zp, out_scale, out_zp, single_rounding: bool = False) -> AddParams:
    """TFLite Micro CalculateOpDataAdd for int8 (left_shift 20)."""
    sa, sb, so = _f32(a_scale), _f32(b_scale), _f32(out_scale)
    left_shift = 20
    twice_max = 2.0 * max(sa, sb)
    m1, s1 = quantize_multiplier_smaller_than_one_exp(sa / twice_max, single_rounding)
    m2, s2 = quantize_multiplier_smaller_than_one_exp(sb / twice_max, single_rounding)
    mo, sh = quantize_multiplier_smaller_than_one_exp(twice_max / ((1 << left_shift) * so), single_rounding)
    return AddParams(-int(a_zp), -int(b_zp), left_shift, m1, s1, m2, s2, mo, sh, int(out_zp))


def mean_params(in_scale, in_zp, out_scale, out_zp, single_rounding: bool = False) -> tuple[int, int, bool]:
    """TFLite Micro PrepareMeanOrSum for int8: (multiplier, shift) = QuantizeMultiplier(in_scale / out_scale), and
    whether input and output quantization are identical (older TFLM releases then computed a truncating
    sum / count; current TFLM does not distinguish the case)."""
    si, so = _f32(in_scale), _f32(out_scale)
    m, s = quantize_multiplier(si / so, single_rounding=single_rounding)
    same = int(in_zp) == int(out_zp) and np.float32(in_scale) == np.float32(out_scale)
    return m, s, bool(same)


def requantize_params(in_scale, out_scale, single_rounding: bool = False) -> tuple[int, int]:
    """TFLite QUANTIZE (int8 -> int8): QuantizeMultiplier(double(in_scale) / double(out_scale))."""
    return quantize_multiplier(_f32(in_scale) / _f32(out_scale), single_rounding=single_rounding)
