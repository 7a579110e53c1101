"""int8 inference kernels: every C kernel bit-exact against toolkit.quant.tflite_ref (a numpy model written from
TFLite's reference_integer_ops), on both matmul paths (and both host variants), in the double- and single-rounding
builds; bad arguments rejected by C (ODL_ERR_*) and by Python (ShapeError / DTypeError); scratch sizes honest."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from toolkit.errors import DTypeError, OdlError, ShapeError
from toolkit.host import get_lib
from toolkit.host import kernels_s8 as K
from toolkit.host.arrays import ptr
from toolkit.quant import params as P
from toolkit.quant import tflite_ref as R

ERR_ARG, ERR_SHAPE, ERR_SCRATCH = -1, -2, -3
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _host_variants():
    _, lib = get_lib()
    current = lib.odl_matmul_s8_host_variant(-1)
    out = [v for v in (1, 2) if lib.odl_matmul_s8_host_variant(v) == v]
    lib.odl_matmul_s8_host_variant(current)
    return out


HOST_VARIANTS = _host_variants()
# (path, host variant): the reference, and every host variant this CPU runs
PATHS = [("reference", None)] + [("host", v) for v in HOST_VARIANTS]


class host_variant:
    def __init__(self, variant, lib):
        self.variant, self.lib = variant, lib

    def __enter__(self):
        self.prev = self.lib.odl_matmul_s8_host_variant(-1)
        if self.variant is not None:
            assert self.lib.odl_matmul_s8_host_variant(self.variant) == self.variant

    def __exit__(self, *exc):
        self.lib.odl_matmul_s8_host_variant(self.prev)


def _rng(seed):
    return np.random.default_rng(seed)


def _s8(rng, shape, lo=-128, hi=127):
    return rng.integers(lo, hi + 1, shape).astype(np.int8)


def _clamp(rng, out_zp):
    kind = rng.integers(0, 3)
    if kind == 0:
        return -128, 127
    if kind == 1:  # ReLU
        return out_zp, 127
    lo = int(rng.integers(-128, 100))
    return lo, int(rng.integers(lo, 128))


def _scales(rng, n):
    return rng.uniform(0.0005, 0.02, n)


# ---------------------------------------------------------------------------------------------- conv2d


@FAST
@given(data=st.data(), which=st.sampled_from(PATHS), single=st.booleans())
def test_conv2d_bit_exact(data, which, single):
    path, variant = which
    d = data.draw
    h, w = d(st.integers(1, 9)), d(st.integers(1, 9))
    cin, cout = d(st.integers(1, 9)), d(st.integers(1, 9))
    kh, kw = d(st.integers(1, 4)), d(st.integers(1, 4))
    stride = (d(st.integers(1, 3)), d(st.integers(1, 3)))
    dilation = (d(st.integers(1, 3)), d(st.integers(1, 3)))
    padding = d(st.sampled_from(["SAME", "VALID"]))
    oh, _ = R.out_size_and_padding(h, kh, stride[0], dilation[0], padding)
    ow, _ = R.out_size_and_padding(w, kw, stride[1], dilation[1], padding)
    assume(oh > 0 and ow > 0)
    rng = _rng(d(st.integers(0, 2**32 - 1)))
    n = d(st.integers(1, 2))
    x = _s8(rng, (n, h, w, cin))
    wt = _s8(rng, (cout, kh, kw, cin), -127)
    bias = rng.integers(-20000, 20000, cout).astype(np.int32) if d(st.booleans()) else None
    in_zp, out_zp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    per_channel = d(st.booleans())
    mult, shift = P.conv_requant_params(rng.uniform(0.01, 0.1), _scales(rng, cout if per_channel else 1),
                                        rng.uniform(0.02, 0.3), single_rounding=single)
    lo, hi = _clamp(rng, out_zp)
    block_rows = d(st.integers(1, oh * ow + 2))
    _, lib = get_lib(single_rounding=single)
    with host_variant(variant, lib):
        got = K.conv2d_s8(x, wt, bias, input_zp=in_zp, output_zp=out_zp, multiplier=mult, shift=shift,
                          stride=stride, dilation=dilation, padding=padding, act_min=lo, act_max=hi, path=path,
                          block_rows=block_rows, single_rounding=single)
    want = R.conv2d(x, wt, bias, -in_zp, out_zp, mult, shift, stride, dilation, padding, lo, hi,
                    single_rounding=single)
    np.testing.assert_array_equal(got, want)


def test_conv2d_reference_model_tracks_float_conv():
    """The numpy model itself: dequantized outputs are within one output step of a float64 conv (torch-free)."""
    rng = _rng(5)
    x = _s8(rng, (1, 8, 7, 4))
    wt = _s8(rng, (5, 3, 3, 4), -127)
    bias = rng.integers(-3000, 3000, 5).astype(np.int32)
    s_in, s_out, s_w = 0.04, 0.25, _scales(rng, 5).astype(np.float32)
    in_zp, out_zp = 9, -4
    mult, shift = P.conv_requant_params(s_in, s_w, s_out)
    got = R.conv2d(x, wt, bias, -in_zp, out_zp, mult, shift, (2, 1), (1, 1), "SAME")
    # float conv, SAME padding by hand (padded taps are real zeros, i.e. the zero point)
    xf = (x.astype(np.float64) - in_zp) * np.float32(s_in)
    wf = wt.astype(np.float64) * s_w.astype(np.float64)[:, None, None, None]
    oh, pt = R.out_size_and_padding(8, 3, 2, 1, "SAME")
    ow, pl = R.out_size_and_padding(7, 3, 1, 1, "SAME")
    pad = np.zeros((1, 8 + 4, 7 + 4, 4))
    pad[:, 2:10, 2:9] = xf
    ref = np.zeros((1, oh, ow, 5))
    for oy in range(oh):
        for ox in range(ow):
            y0, x0 = oy * 2 - pt + 2, ox - pl + 2
            ref[0, oy, ox] = np.einsum("hwc,ohwc->o", pad[0, y0:y0 + 3, x0:x0 + 3], wf)
    ref += bias * np.float32(s_in) * s_w.astype(np.float64)
    ref_q = np.clip(np.round(ref / np.float32(s_out)) + out_zp, -128, 127)
    assert np.max(np.abs(got.astype(np.float64) - ref_q)) <= 1


# ---------------------------------------------------------------------------------------------- depthwise


@FAST
@given(data=st.data(), single=st.booleans())
def test_depthwise_conv2d_bit_exact(data, single):
    d = data.draw
    h, w = d(st.integers(1, 9)), d(st.integers(1, 9))
    cin, mult_ = d(st.integers(1, 6)), d(st.integers(1, 3))
    kh, kw = d(st.integers(1, 4)), d(st.integers(1, 4))
    stride = (d(st.integers(1, 3)), d(st.integers(1, 3)))
    dilation = (d(st.integers(1, 3)), d(st.integers(1, 3)))
    padding = d(st.sampled_from(["SAME", "VALID"]))
    oh, _ = R.out_size_and_padding(h, kh, stride[0], dilation[0], padding)
    ow, _ = R.out_size_and_padding(w, kw, stride[1], dilation[1], padding)
    assume(oh > 0 and ow > 0)
    rng = _rng(d(st.integers(0, 2**32 - 1)))
    cout = cin * mult_
    x = _s8(rng, (1, h, w, cin))
    wt = _s8(rng, (1, kh, kw, cout), -127)
    bias = rng.integers(-20000, 20000, cout).astype(np.int32) if d(st.booleans()) else None
    in_zp, out_zp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    m, s = P.conv_requant_params(rng.uniform(0.01, 0.1), _scales(rng, cout), rng.uniform(0.02, 0.3),
                                 single_rounding=single)
    lo, hi = _clamp(rng, out_zp)
    got = K.depthwise_conv2d_s8(x, wt, bias, depth_multiplier=mult_, input_zp=in_zp, output_zp=out_zp,
                                multiplier=m, shift=s, stride=stride, dilation=dilation, padding=padding,
                                act_min=lo, act_max=hi, single_rounding=single)
    want = R.depthwise_conv2d(x, wt, bias, mult_, -in_zp, out_zp, m, s, stride, dilation, padding, lo, hi,
                              single_rounding=single)
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------------------- pointwise / FC


@FAST
@given(data=st.data(), which=st.sampled_from(PATHS), single=st.booleans())
def test_pointwise_conv2d_bit_exact(data, which, single):
    path, variant = which
    d = data.draw
    rng = _rng(d(st.integers(0, 2**32 - 1)))
    x = _s8(rng, (d(st.integers(1, 2)), d(st.integers(1, 8)), d(st.integers(1, 8)), d(st.integers(1, 70))))
    cout = d(st.integers(1, 20))
    wt = _s8(rng, (cout, 1, 1, x.shape[3]), -127)
    bias = rng.integers(-20000, 20000, cout).astype(np.int32) if d(st.booleans()) else None
    in_zp, out_zp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    m, s = P.conv_requant_params(0.05, _scales(rng, cout), rng.uniform(0.02, 0.3), single_rounding=single)
    lo, hi = _clamp(rng, out_zp)
    _, lib = get_lib(single_rounding=single)
    with host_variant(variant, lib):
        got = K.pointwise_conv2d_s8(x, wt, bias, input_zp=in_zp, output_zp=out_zp, multiplier=m, shift=s,
                                    act_min=lo, act_max=hi, path=path, single_rounding=single)
    want = R.conv2d(x, wt, bias, -in_zp, out_zp, m, s, (1, 1), (1, 1), "VALID", lo, hi, single_rounding=single)
    np.testing.assert_array_equal(got, want)


@FAST
@given(data=st.data(), which=st.sampled_from(PATHS), single=st.booleans())
def test_fully_connected_bit_exact(data, which, single):
    path, variant = which
    d = data.draw
    rng = _rng(d(st.integers(0, 2**32 - 1)))
    b, k, n = d(st.integers(1, 9)), d(st.integers(1, 200)), d(st.integers(1, 19))
    x, wt = _s8(rng, (b, k)), _s8(rng, (n, k), -127)
    bias = rng.integers(-50000, 50000, n).astype(np.int32) if d(st.booleans()) else None
    in_zp, out_zp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    per_channel = d(st.booleans())
    m, s = P.conv_requant_params(0.05, _scales(rng, n if per_channel else 1), rng.uniform(0.05, 0.5),
                                 single_rounding=single)
    lo, hi = _clamp(rng, out_zp)
    _, lib = get_lib(single_rounding=single)
    with host_variant(variant, lib):
        got = K.fully_connected_s8(x, wt, bias, input_zp=in_zp, output_zp=out_zp, multiplier=m, shift=s,
                                   act_min=lo, act_max=hi, path=path, single_rounding=single)
    want = R.fully_connected(x, wt, bias, -in_zp, out_zp, m, s, lo, hi, single_rounding=single)
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------------------- matmul paths


def _matmul(lib, ffi, fn, a, b, bias, off, mult, shift, out_zp, lo, hi):
    q = ffi.new("odl_requant *", {"multiplier": ptr(ffi, mult), "shift": ptr(ffi, shift),
                                   "per_channel": int(mult.size > 1)})
    o = ffi.new("odl_output_s8 *", {"output_offset": out_zp, "act_min": lo, "act_max": hi})
    out = np.full((a.shape[0], b.shape[0]), 99, np.int8)
    assert fn(ptr(ffi, a), ptr(ffi, b), ptr(ffi, bias), a.shape[0], b.shape[0], a.shape[1], off, q, o,
              ptr(ffi, out)) == 0
    return out


@pytest.mark.parametrize("single", [False, True])
@pytest.mark.parametrize("variant", HOST_VARIANTS)
@settings(max_examples=120, deadline=None)
@given(m=st.integers(1, 13), n=st.integers(1, 11), k=st.integers(1, 300), seed=st.integers(0, 2**32 - 1),
       operands=st.sampled_from(["random", "extreme", "small"]), wide=st.booleans(), per_tensor=st.booleans())
def test_matmul_s8_host_equals_reference(variant, single, m, n, k, seed, operands, wide, per_tensor):
    """Tails of every block size, K across vector widths; extreme operands (+-255 * -128) stress exactness; `wide`
    draws multipliers over [2^30, 2^31) and shifts scaled to the accumulators (the vector requantization's range);
    small operands make small right shifts, where exact halves (rounding ties) are frequent."""
    ffi, lib = get_lib(single_rounding=single)
    rng = _rng(seed)
    bias = rng.integers(-2**20, 2**20, n).astype(np.int32) if seed % 3 else None
    if operands == "extreme":
        a = rng.choice(np.array([-128, 127], np.int8), (m, k))
        b = rng.choice(np.array([-128, 127, -127], np.int8), (n, k))
        off = int(rng.choice([-127, 128]))
    elif operands == "small":
        a, b, off = _s8(rng, (m, k), -6, 6), _s8(rng, (n, k), -6, 6), int(rng.integers(-3, 4))
        bias = None if bias is None else (bias % 64 - 32).astype(np.int32)
    else:
        a, b, off = _s8(rng, (m, k)), _s8(rng, (n, k)), int(rng.integers(-127, 129))
    nq = 1 if per_tensor else n
    if wide:  # shifts scaled to the accumulators so results land inside int8 and every rounding case occurs
        acc = (a.astype(np.int64) + off) @ b.astype(np.int64).T + (0 if bias is None else bias.astype(np.int64))
        top = int(np.abs(acc).max()).bit_length()
        mult = rng.integers(2**30, 2**31, nq).astype(np.int32)
        shift = np.clip(7 - top + rng.integers(-2, 3, nq), -31, 2).astype(np.int32)
    else:
        mult, shift = P.conv_requant_params(0.02, _scales(rng, nq), 8.0, single_rounding=single)
    want = R.fully_connected(a, b, bias, off, 5, mult, shift, single_rounding=single)
    ref = _matmul(lib, ffi, lib.odl_matmul_s8_ref, a, b, bias, off, mult, shift, 5, -128, 127)
    with host_variant(variant, lib):
        host = _matmul(lib, ffi, lib.odl_path_get(1).matmul_s8, a, b, bias, off, mult, shift, 5, -128, 127)
    np.testing.assert_array_equal(ref, want)
    np.testing.assert_array_equal(host, want)


def test_matmul_s8_host_large_k_accumulators():
    """K = 4099 with all products at +32640: accumulators near 2^27, exact on every variant."""
    ffi, lib = get_lib()
    k = 4099
    a = np.full((5, k), 127, np.int8)
    b = np.full((3, k), -128, np.int8)
    mult, shift = P.conv_requant_params(1.0, [1.0], 2.0**20)
    want = R.fully_connected(a, b, None, 128, 0, mult, shift)
    for v in HOST_VARIANTS:
        with host_variant(v, lib):
            got = _matmul(lib, ffi, lib.odl_path_get(1).matmul_s8, a, b, None, 128, mult, shift, 0, -128, 127)
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------------------- add / pools / mean / requantize


@FAST
@given(data=st.data(), single=st.booleans())
def test_add_bit_exact(data, single):
    d = data.draw
    rng = _rng(d(st.integers(0, 2**32 - 1)))
    shape = tuple(d(st.lists(st.integers(1, 7), min_size=1, max_size=4)))
    a, b = _s8(rng, shape), _s8(rng, shape)
    sa, sb = 10 ** rng.uniform(-3, -0.5), 10 ** rng.uniform(-3, -0.5)
    so = max(sa, sb) * 10 ** rng.uniform(-0.3, 1)
    za, zb, zo = (int(v) for v in rng.integers(-128, 128, 3))
    lo, hi = _clamp(rng, zo)
    got = K.add_s8(a, b, a_scale=sa, a_zp=za, b_scale=sb, b_zp=zb, out_scale=so, out_zp=zo, act_min=lo, act_max=hi,
                   single_rounding=single)
    p = P.add_params(sa, za, sb, zb, so, zo, single_rounding=single)
    want = R.add(a, b, p, lo, hi, single_rounding=single)
    np.testing.assert_array_equal(got, want)
    # and the model means what it says: within a couple of output steps of the real sum
    real = (a.astype(np.float64) - za) * sa + (b.astype(np.float64) - zb) * sb
    approx = np.clip(np.round(real / so) + zo, lo, hi)
    assert np.max(np.abs(want - approx)) <= 2


@FAST
@given(data=st.data(), kind=st.sampled_from(["avg", "max"]))
def test_pools_bit_exact(data, kind):
    d = data.draw
    rng = _rng(d(st.integers(0, 2**32 - 1)))
    h, w, c = d(st.integers(1, 10)), d(st.integers(1, 10)), d(st.integers(1, 6))
    pool = (d(st.integers(1, 4)), d(st.integers(1, 4)))
    stride = (d(st.integers(1, 3)), d(st.integers(1, 3)))
    padding = d(st.sampled_from(["SAME", "VALID"]))
    oh, pt = R.out_size_and_padding(h, pool[0], stride[0], 1, padding)
    ow, pl = R.out_size_and_padding(w, pool[1], stride[1], 1, padding)
    assume(oh > 0 and ow > 0)
    x = _s8(rng, (d(st.integers(1, 2)), h, w, c))
    lo, hi = _clamp(rng, int(rng.integers(-128, 128)))
    fn, ref = (K.avg_pool_s8, R.avg_pool) if kind == "avg" else (K.max_pool_s8, R.max_pool)
    got = fn(x, pool=pool, stride=stride, padding=padding, act_min=lo, act_max=hi)
    np.testing.assert_array_equal(got, ref(x, pool, stride, padding, lo, hi))


def test_avg_pool_rounds_half_away_from_zero_over_valid_taps():
    """Hand-computed TFLite values: SAME 2x2/2 on 3x3 -> the corner window has 1 valid tap, edges 2."""
    x = np.array([[1, 2, -3], [4, 1, -2], [-5, 0, 7]], np.int8).reshape(1, 3, 3, 1)
    got = K.avg_pool_s8(x, pool=(2, 2), stride=(2, 2), padding="SAME")
    # windows: {1,2,4,1}=8/4=2, {-3,-2}=-5/2=-2.5->-3, {-5,0}=-2.5->-3, {7}=7
    np.testing.assert_array_equal(got.reshape(2, 2), [[2, -3], [-3, 7]])


@FAST
@given(data=st.data(), same=st.booleans(), legacy=st.booleans(), single=st.booleans())
def test_mean_bit_exact(data, same, legacy, single):
    d = data.draw
    rng = _rng(d(st.integers(0, 2**32 - 1)))
    x = _s8(rng, (d(st.integers(1, 2)), d(st.integers(1, 12)), d(st.integers(1, 12)), d(st.integers(1, 9))))
    in_scale, in_zp = rng.uniform(0.005, 0.2), int(rng.integers(-128, 128))
    out_scale, out_zp = (in_scale, in_zp) if same else (in_scale * 10 ** rng.uniform(-1, 1), int(rng.integers(-128, 128)))
    got = K.mean_s8(x, in_scale=in_scale, in_zp=in_zp, out_scale=out_scale, out_zp=out_zp, single_rounding=single,
                    legacy_same_quant=legacy)
    m, s, sq = P.mean_params(in_scale, in_zp, out_scale, out_zp, single_rounding=single)
    assert sq == same
    want = R.mean_hw(x, in_zp, out_zp, m, s, truncating=sq and legacy, single_rounding=single)
    np.testing.assert_array_equal(got, want)
    real = ((x.astype(np.float64) - in_zp) * in_scale).mean(axis=(1, 2), keepdims=True)
    approx = np.clip(np.round(real / out_scale) + out_zp, -128, 127)
    assert np.max(np.abs(want - approx)) <= 1


def test_mean_equal_quantization_values_measured_on_tflm():
    """Equal quantization (scale 0.05, zp 0), values measured on the tflite-micro interpreter: QuantizedMeanOrSum
    with double rounding (0.25 -> 1, 45.5 -> 46, -0.5 -> 0), not the truncating sum / count of older TFLM."""
    cases = {(91, 0): 46, (1, 0): 1, (-1, 0): 0, (-3, 0): -1, (1, 0, 0, 0): 1, (-2, 0, 0, 0): -1, (4, 0, 0): 1}
    for vals, want in cases.items():
        x = np.array(vals, np.int8).reshape(1, 1, len(vals), 1)
        assert int(K.mean_s8(x, in_scale=0.05, in_zp=0, out_scale=0.05, out_zp=0)[0, 0, 0, 0]) == want, vals
    # the older truncating path on request: 91 / 2 -> 45, -3 / 2 -> -1, 1 / 4 -> 0
    for vals, want in {(91, 0): 45, (-3, 0): -1, (1, 0, 0, 0): 0}.items():
        x = np.array(vals, np.int8).reshape(1, 1, len(vals), 1)
        got = K.mean_s8(x, in_scale=0.05, in_zp=0, out_scale=0.05, out_zp=0, legacy_same_quant=True)
        assert int(got[0, 0, 0, 0]) == want, vals


@FAST
@given(data=st.data(), single=st.booleans())
def test_requantize_bit_exact(data, single):
    d = data.draw
    rng = _rng(d(st.integers(0, 2**32 - 1)))
    x = _s8(rng, (d(st.integers(1, 50)),))
    in_scale, out_scale = rng.uniform(0.001, 0.2), rng.uniform(0.001, 0.2)
    in_zp, out_zp = (int(v) for v in rng.integers(-128, 128, 2))
    got = K.requantize_s8(x, in_scale=in_scale, in_zp=in_zp, out_scale=out_scale, out_zp=out_zp,
                          single_rounding=single)
    m, s = P.requantize_params(in_scale, out_scale, single_rounding=single)
    np.testing.assert_array_equal(got, R.requantize(x, in_zp, out_zp, m, s, single_rounding=single))


# ---------------------------------------------------------------------------------------------- im2col and scratch


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_im2col_fills_padding_with_zero_point(data):
    d = data.draw
    rng = _rng(d(st.integers(0, 2**32 - 1)))
    h, w, c = d(st.integers(1, 7)), d(st.integers(1, 7)), d(st.integers(1, 4))
    kh, kw, sh, sw = d(st.integers(1, 3)), d(st.integers(1, 3)), d(st.integers(1, 2)), d(st.integers(1, 2))
    dh, dw = d(st.integers(1, 2)), d(st.integers(1, 2))
    oh, pt = R.out_size_and_padding(h, kh, sh, dh, "SAME")
    ow, pl = R.out_size_and_padding(w, kw, sw, dw, "SAME")
    zp = int(rng.integers(-128, 128))
    x = _s8(rng, (1, h, w, c))
    ffi, lib = get_lib()
    p = ffi.new("odl_conv_s8_params *", {"stride_h": sh, "stride_w": sw, "dilation_h": dh, "dilation_w": dw,
                                          "padding": 1, "input_offset": -zp})
    dims = ffi.new("odl_dims *", [1, h, w, c])
    start = d(st.integers(0, oh * ow - 1))
    count = d(st.integers(1, oh * ow - start))
    size = lib.odl_im2col_s8_scratch_size(count, kh, kw, c)
    assert size == count * kh * kw * c
    rows = np.zeros(size, np.int8)
    assert lib.odl_im2col_s8(ptr(ffi, x), dims, kh, kw, p, start, count, ptr(ffi, rows), size) == 0
    rows = rows.reshape(count, kh, kw, c)
    for r in range(count):
        oy, ox = divmod(start + r, ow)
        for ky in range(kh):
            for kx in range(kw):
                y, xx = oy * sh - pt + ky * dh, ox * sw - pl + kx * dw
                want = x[0, y, xx] if 0 <= y < h and 0 <= xx < w else np.full(c, zp, np.int8)
                np.testing.assert_array_equal(rows[r, ky, kx], want)
    assert lib.odl_im2col_s8(ptr(ffi, x), dims, kh, kw, p, start, count, ptr(ffi, rows), size - 1) == ERR_SCRATCH


def _conv_c_call(ffi, lib, x, wt, scratch_bytes, out_dims=None, act=(-128, 127), stride=1, offset=0):
    n, h, w, cin = x.shape
    cout, kh, kw, _ = wt.shape
    mult, shift = np.full(cout, 1 << 30, np.int32), np.full(cout, -3, np.int32)
    q = ffi.new("odl_requant *", {"multiplier": ptr(ffi, mult), "shift": ptr(ffi, shift), "per_channel": 1})
    o = ffi.new("odl_output_s8 *", {"output_offset": 0, "act_min": act[0], "act_max": act[1]})
    p = ffi.new("odl_conv_s8_params *", {"stride_h": stride, "stride_w": 1, "dilation_h": 1, "dilation_w": 1,
                                          "padding": 1, "input_offset": offset})
    od = out_dims or (n, -(-h // max(stride, 1)), w, cout)
    out = np.zeros(od, np.int8) if min(od) > 0 else np.zeros(1, np.int8)
    scratch = np.zeros(max(scratch_bytes, 1), np.int8)
    return lib.odl_conv2d_s8_forward(ptr(ffi, x), ffi.new("odl_dims *", list(x.shape)), ptr(ffi, wt), cout, kh, kw,
                                     ffi.NULL, p, q, o, ffi.new("odl_dims *", list(od)), ptr(ffi, out),
                                     ptr(ffi, scratch) if scratch_bytes > 0 else ffi.NULL, scratch_bytes), out


def test_conv2d_scratch_size_is_honest():
    ffi, lib = get_lib()
    rng = _rng(11)
    x, wt = _s8(rng, (1, 6, 5, 3)), _s8(rng, (4, 3, 2, 3))
    one_row = lib.odl_conv2d_s8_scratch_size(1, 3, 2, 3)
    assert one_row == 3 * 2 * 3
    results = []
    for rows in (1, 2, 7, 30):
        st_, out = _conv_c_call(ffi, lib, x, wt, lib.odl_conv2d_s8_scratch_size(rows, 3, 2, 3))
        assert st_ == 0
        results.append(out)
    for r in results[1:]:  # the block size changes nothing in the result
        np.testing.assert_array_equal(r, results[0])
    assert _conv_c_call(ffi, lib, x, wt, one_row - 1)[0] == ERR_SCRATCH
    assert _conv_c_call(ffi, lib, x, wt, 0)[0] == ERR_SCRATCH


def test_c_kernels_reject_bad_arguments():
    ffi, lib = get_lib()
    rng = _rng(12)
    x, wt = _s8(rng, (1, 6, 5, 3)), _s8(rng, (4, 3, 3, 3))
    big = lib.odl_conv2d_s8_scratch_size(30, 3, 3, 3)
    assert _conv_c_call(ffi, lib, x, wt, big)[0] == 0
    assert _conv_c_call(ffi, lib, x, wt, big, out_dims=(1, 6, 5, 5))[0] == ERR_SHAPE  # wrong out channels
    assert _conv_c_call(ffi, lib, x, wt, big, out_dims=(1, 5, 5, 4))[0] == ERR_SHAPE  # wrong out height
    assert _conv_c_call(ffi, lib, x, wt, big, act=(10, -10))[0] == ERR_ARG
    assert _conv_c_call(ffi, lib, x, wt, big, stride=0)[0] == ERR_ARG
    assert _conv_c_call(ffi, lib, x, wt, big, offset=-128)[0] == ERR_ARG  # zero point 128 is not int8
    dims = ffi.new("odl_dims *", [1, 6, 5, 3])
    pool = ffi.new("odl_pool_s8_params *", {"pool_h": 2, "pool_w": 2, "stride_h": 2, "stride_w": 2, "padding": 0,
                                             "act_min": -128, "act_max": 127})
    out = np.zeros(100, np.int8)
    assert lib.odl_max_pool_s8(ptr(ffi, x), dims, pool, ffi.new("odl_dims *", [1, 3, 2, 3]), ptr(ffi, out)) == 0
    assert lib.odl_avg_pool_s8(ptr(ffi, x), dims, pool, ffi.new("odl_dims *", [1, 3, 3, 3]),
                               ptr(ffi, out)) == ERR_SHAPE
    assert lib.odl_avg_pool_s8(ffi.NULL, dims, pool, ffi.new("odl_dims *", [1, 3, 2, 3]), ptr(ffi, out)) == ERR_ARG
    addp = ffi.new("odl_add_s8_params *", {"left_shift": 20, "input1_shift": 1, "act_min": -128, "act_max": 127})
    assert lib.odl_add_s8(ptr(ffi, x), ptr(ffi, x), 4, addp, ptr(ffi, out)) == ERR_ARG  # shift > 0
    assert lib.odl_requantize_s8(ptr(ffi, x), 0, 0, 0, 1 << 30, 0, ptr(ffi, out)) == ERR_ARG
    assert lib.odl_requantize_s8(ptr(ffi, x), 4, 200, 0, 1 << 30, 0, ptr(ffi, out)) == ERR_ARG
    meanp = ffi.new("odl_mean_s8_params *", {"input_zp": 0, "output_zp": 300, "multiplier": 1 << 30, "shift": 0})
    assert lib.odl_mean_s8(ptr(ffi, x), dims, meanp, ptr(ffi, out)) == ERR_ARG
    assert lib.odl_depthwise_conv2d_s8_forward(ptr(ffi, x), dims, ptr(ffi, wt), 3, 3, 0, ffi.NULL,
                                               ffi.new("odl_conv_s8_params *", {"stride_h": 1, "stride_w": 1,
                                                                                 "dilation_h": 1, "dilation_w": 1}),
                                               ffi.new("odl_requant *"), ffi.new("odl_output_s8 *"), dims,
                                               ptr(ffi, out)) == ERR_ARG  # depth multiplier 0, null requant
    q = ffi.new("odl_requant *")
    o = ffi.new("odl_output_s8 *", {"act_min": -128, "act_max": 127})
    assert lib.odl_fully_connected_s8_forward(ptr(ffi, x), ptr(ffi, x), ffi.NULL, 1, 2, 3, 0, q, o,
                                              ptr(ffi, out)) == ERR_ARG  # requant without arrays


def test_python_wrappers_raise_clear_errors():
    rng = _rng(13)
    x, wt = _s8(rng, (1, 6, 5, 3)), _s8(rng, (4, 3, 3, 3))
    m, s = P.conv_requant_params(0.1, _scales(rng, 4), 0.2)
    kw = dict(input_zp=0, output_zp=0, multiplier=m, shift=s)
    with pytest.raises(DTypeError, match="x"):
        K.conv2d_s8(x.astype(np.float32), wt, None, **kw)
    with pytest.raises(DTypeError, match="bias"):
        K.conv2d_s8(x, wt, np.zeros(4, np.int64), **kw)
    with pytest.raises(ShapeError, match="input channels"):
        K.conv2d_s8(x, _s8(rng, (4, 3, 3, 2)), None, **kw)
    with pytest.raises(ShapeError, match="multiplier"):
        K.conv2d_s8(x, wt, None, input_zp=0, output_zp=0, multiplier=m[:3], shift=s[:3])
    with pytest.raises(ShapeError):
        K.conv2d_s8(x, _s8(rng, (4, 9, 9, 3)), None, padding="VALID", **kw)
    with pytest.raises(ShapeError, match="x"):
        K.conv2d_s8(x[0], wt, None, **kw)
    with pytest.raises(OdlError, match="padding"):
        K.conv2d_s8(x, wt, None, padding="FULL", **kw)
    with pytest.raises(OdlError, match="act_min"):
        K.conv2d_s8(x, wt, None, act_min=5, act_max=4, **kw)
    with pytest.raises(OdlError, match="zero point"):
        K.conv2d_s8(x, wt, None, input_zp=128, output_zp=0, multiplier=m, shift=s)
    with pytest.raises(ShapeError, match="depth_multiplier"):
        K.depthwise_conv2d_s8(x, _s8(rng, (1, 3, 3, 3)), None, depth_multiplier=2, input_zp=0, output_zp=0,
                              multiplier=m[:1], shift=s[:1])
    with pytest.raises(ShapeError):
        K.pointwise_conv2d_s8(x, wt, None, **kw)
    with pytest.raises(ShapeError):
        K.fully_connected_s8(_s8(rng, (2, 5)), _s8(rng, (3, 6)), None, **dict(kw, multiplier=m[:1], shift=s[:1]))
    with pytest.raises(ShapeError, match="b"):
        K.add_s8(x, x[:, :3], a_scale=0.1, a_zp=0, b_scale=0.1, b_zp=0, out_scale=0.2, out_zp=0)
    with pytest.raises(DTypeError):
        K.max_pool_s8(x.astype(np.uint8), pool=2, stride=2)
    with pytest.raises(DTypeError):
        K.mean_s8(x.astype(np.int16), in_scale=0.1, in_zp=0, out_scale=0.1, out_zp=0)
    with pytest.raises(OdlError, match="scale"):
        K.requantize_s8(x, in_scale=0.0, in_zp=0, out_scale=0.1, out_zp=0)
    with pytest.raises(OdlError, match="pool"):
        K.avg_pool_s8(x, pool=(0, 2), stride=1)
