"""quantize_multiplier / MultiplyByQuantizedMultiplier: Python and C against an independent model of TFLite."""

import math

import numpy as np
import pytest

from toolkit.host import get_lib
from toolkit.quant import fixedpoint as fp


def tflite_quantize_multiplier(d: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier written out independently with exact integer arithmetic (fractions)."""
    from fractions import Fraction

    if d == 0.0:
        return 0, 0
    f = Fraction(d)
    # frexp: d = q * 2**e with 0.5 <= q < 1
    e = math.frexp(d)[1]
    q = f / Fraction(2) ** e
    x = q * (1 << 31)
    q_fixed = math.floor(x + Fraction(1, 2))  # std::round for positive values
    if q_fixed == 1 << 31:
        q_fixed //= 2
        e += 1
    if e < -31:
        return 0, 0
    return q_fixed, e


@pytest.mark.parametrize("single", [False, True])
def test_quantize_multiplier_10000_random_scales(single):
    ffi, lib = get_lib(single_rounding=single)
    rng = np.random.default_rng(1234)
    # log-uniform over a wide range plus scales typical of int8 layers
    scales = np.concatenate([10 ** rng.uniform(-12, 3, 8000), rng.uniform(1e-5, 1.0, 2000)])
    m = ffi.new("int32_t *")
    s = ffi.new("int32_t *")
    for d in scales:
        d = float(d)
        want = tflite_quantize_multiplier(d)
        if single and want[1] > 30:
            want = (2**31 - 1, 30)
        got_py = fp.quantize_multiplier(d, single_rounding=single)
        lib.odl_quantize_multiplier(d, m, s)
        assert got_py == want, d
        assert (m[0], s[0]) == want, d


def test_quantize_multiplier_edges():
    assert fp.quantize_multiplier(0.0) == (0, 0)
    assert fp.quantize_multiplier(1.0) == (1 << 30, 1)
    assert fp.quantize_multiplier(0.5) == (1 << 30, 0)
    # just below a power of two rounds up to 2**31 and renormalises
    mult, shift = fp.quantize_multiplier(1.0 - 2**-40)
    assert (mult, shift) == (1 << 30, 1)
    assert fp.quantize_multiplier(2.0**-40) == (0, 0)


def _srdhm_exact(a: int, b: int) -> int:
    if a == b == -(2**31):
        return 2**31 - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else (1 - (1 << 30))
    s = ab + nudge
    return int(s / (1 << 31)) if abs(s) < 2**52 else (abs(s) // (1 << 31)) * (1 if s >= 0 else -1)


@pytest.mark.parametrize("single", [False, True])
def test_multiply_by_quantized_multiplier_c_equals_python(single):
    ffi, lib = get_lib(single_rounding=single)
    rng = np.random.default_rng(7)
    xs = np.concatenate([rng.integers(-(2**31), 2**31, 3000), rng.integers(-(2**20), 2**20, 3000),
                         [0, 1, -1, 2**31 - 1, -(2**31)]]).astype(np.int64)
    for i, x in enumerate(xs):
        real = float(10 ** rng.uniform(-6, 0.5))
        mult, shift = fp.quantize_multiplier(real, single_rounding=single)
        if not single and shift > 0 and abs(int(x)) >= 2 ** (31 - shift):
            x = np.int64(int(x) >> (shift + 1))  # TFLite requires x << shift to fit int32
        if single:
            x = np.int64(int(x) >> 2)
        got_c = lib.odl_multiply_by_quantized_multiplier(int(x), mult, shift)
        got_py = int(fp.multiply_by_quantized_multiplier(x, mult, shift, single_rounding=single))
        assert got_c == got_py, (int(x), mult, shift)
        # and both track the real product to within one unit
        assert abs(got_c - int(x) * mult * 2.0 ** (shift - 31)) <= 1.0 + 1e-9 * abs(got_c)


def test_gemmlowp_primitives_against_exact_integers():
    ffi, lib = get_lib()
    rng = np.random.default_rng(3)
    for _ in range(3000):
        a, b = (int(v) for v in rng.integers(-(2**31), 2**31, 2))
        assert lib.odl_saturating_rounding_doubling_high_mul(a, b) == _srdhm_exact(a, b)
        assert int(fp.saturating_rounding_doubling_high_mul(a, b)) == _srdhm_exact(a, b)
        e = int(rng.integers(0, 31))
        # round half away from zero of a / 2**e
        from fractions import Fraction

        q = Fraction(a, 2**e)
        want = math.floor(q + Fraction(1, 2)) if a >= 0 else -math.floor(-q + Fraction(1, 2))
        assert lib.odl_rounding_divide_by_pot(a, e) == want
        assert int(fp.rounding_divide_by_pot(a, e)) == want
    assert lib.odl_saturating_rounding_doubling_high_mul(-(2**31), -(2**31)) == 2**31 - 1
