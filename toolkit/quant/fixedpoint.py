"""TFLite's fixed-point helpers in Python/numpy, bit-exact with tensorflow/lite/kernels/internal/common.h.

These are the numpy model of TFLite arithmetic that tests compare the C kernels against. All functions accept
scalars or int arrays (vectorised with int64 intermediates).
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def quantize_multiplier(real: float, single_rounding: bool = False) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: returns (multiplier, shift) with real == multiplier * 2**(shift - 31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    # TfLiteRound is std::round: halves away from zero.
    x = q * (1 << 31)
    q_fixed = int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if single_rounding and shift > 30:
        shift, q_fixed = 30, (1 << 31) - 1
    return int(q_fixed), int(shift)


def saturating_rounding_doubling_high_mul(a, b):
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == b) & (a == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    # C division truncates toward zero
    hi = np.where(s >= 0, s // (1 << 31), -((-s) // (1 << 31)))
    return np.where(overflow, INT32_MAX, hi).astype(np.int64)


def rounding_divide_by_pot(x, exponent):
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0).astype(np.int64)
    return (x >> exponent) + (remainder > threshold).astype(np.int64)


def multiply_by_quantized_multiplier(x, multiplier, shift, single_rounding: bool = False):
    """TFLite MultiplyByQuantizedMultiplier, elementwise (multiplier/shift broadcast against x)."""
    x = np.asarray(x, dtype=np.int64)
    multiplier = np.asarray(multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if single_rounding:
        total = 31 - shift
        rnd = np.int64(1) << (total - 1)
        return ((x * multiplier + rnd) >> total).astype(np.int64)
    left = np.where(shift > 0, shift, 0)
    right = np.where(shift > 0, 0, -shift)
    # (x << left) in int32 (wraps like the C uint32 cast)
    shifted = ((x << left) + 2**31) % 2**32 - 2**31
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)
