"""FP32 backward of int8 layers and QAS updates (csrc/include/odl/train_s8.h).

References are independent of the code under test: gradients come from a torch fake-quant model written here
(int8 weights/activations dequantized to float64, the layer run in torch with requires_grad, autograd backward);
updates come from numpy float32 formulas written out here, and stochastic rounding from a pure-Python xorshift32.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import DTypeError, KernelError, OdlError, ShapeError
from toolkit.host import get_lib, use_path
from toolkit.host import train_s8 as T

torch.set_num_threads(1)


# ---- independent references ----------------------------------------------------------------------------------------


def tflite_pads(in_size, k, stride, dil, padding):
    """TFLite output size and (leading, trailing) padding, written out from TFLite's formula."""
    eff = (k - 1) * dil + 1
    if padding == "same":
        out = (in_size + stride - 1) // stride
    else:
        out = (in_size - eff + stride) // stride
    total = max((out - 1) * stride + eff - in_size, 0)
    lead = total // 2 if padding == "same" else 0
    return out, lead, total - lead


def torch_conv_grads(x_real, w_real, b_real, dy, stride, dil, padding, groups=1):
    """Gradients of sum(conv(x, W) + b) * dY) w.r.t. x, W, b. x [H,W,C]; W torch layout; dY [OH,OW,Cout]."""
    x = torch.tensor(x_real, dtype=torch.float64).permute(2, 0, 1)[None].clone().requires_grad_(True)
    w = torch.tensor(w_real, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(b_real, dtype=torch.float64, requires_grad=True)
    kh, kw = w.shape[2:]
    _, t, bo = tflite_pads(x.shape[2], kh, stride[0], dil[0], padding)
    _, l, r = tflite_pads(x.shape[3], kw, stride[1], dil[1], padding)
    y = F.conv2d(F.pad(x, (l, r, t, bo)), w, b, stride=stride, dilation=dil, groups=groups)
    g = torch.tensor(dy, dtype=torch.float64).permute(2, 0, 1)[None]
    assert y.shape == g.shape
    (y * g).sum().backward()
    return x.grad[0].permute(1, 2, 0).numpy(), w.grad.numpy(), b.grad.numpy()


def assert_close(got, ref, mag, what):
    """|got - ref| <= 1e-4 |ref| + 1e-5 * (the same sum taken over absolute values)."""
    got, ref, mag = (np.asarray(a, np.float64) for a in (got, ref, mag))
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    bad = np.abs(got - ref) > 1e-4 * np.abs(ref) + 1e-5 * mag + 1e-30
    assert not bad.any(), f"{what}: max err {np.abs(got - ref).max()} (ref max {np.abs(ref).max()})"


def py_xorshift32(x):
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    return x


def round_half_away(d):
    d = np.asarray(d, np.float32)
    t = np.trunc(d)
    return t + np.sign(d) * (np.abs(d - t) >= 0.5)


def qas_delta(grad, s, w, buf, lr, mu, wd):
    """numpy float32: g = grad * s^-2 + wd * w; buf = mu * buf + g; delta = -lr * buf (QAS SGD, quantized units)."""
    f = np.float32
    inv = (f(1) / (s * s)).astype(np.float32)
    g = grad.astype(np.float32) * inv + f(wd) * w.astype(np.float32)
    if mu != 0:
        g = f(mu) * buf + g
        buf[...] = g
    return -(f(lr) * g)


scale = st.floats(1e-3, 0.1).map(np.float32)


def qparams(draw, n):
    return np.asarray(draw(st.lists(scale, min_size=n, max_size=n)), np.float32)


# ---- conv2d --------------------------------------------------------------------------------------------------------


@st.composite
def conv_case(draw, depthwise=False):
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    cin = draw(st.integers(1, 5))
    cout = cin if depthwise else draw(st.integers(1, 6))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["valid", "same"]))
    oh, _, _ = tflite_pads(h, kh, stride[0], dil[0], padding)
    ow, _, _ = tflite_pads(w, kw, stride[1], dil[1], padding)
    if oh <= 0 or ow <= 0:
        padding = "same"
        oh, ow = -(-h // stride[0]), -(-w // stride[1])
    count = draw(st.integers(1, cout))
    channels = draw(st.permutations(range(cout)))[:count]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    case = dict(
        x_q=rng.integers(-128, 128, (h, w, cin), dtype=np.int8),
        zp=draw(st.integers(-128, 127)),
        s_x=draw(scale),
        w_q=rng.integers(-127, 128, (1, kh, kw, cin) if depthwise else (cout, kh, kw, cin), dtype=np.int8),
        s_w=qparams(draw, cout),
        b_q=rng.integers(-5000, 5000, cout).astype(np.int32),
        dy=rng.standard_normal((oh, ow, cout)).astype(np.float32),
        stride=stride, dil=dil, padding=padding, channels=np.array(channels, np.int32),
        scratch=draw(st.sampled_from(["fast", "min", "odd"])),
    )
    return case


def fake_quant_reference(c, depthwise):
    """Dequantize the integers, run the layer in torch and return (dX, dL/dW_q, dL/db_q) plus magnitudes."""
    x = c["s_x"] * (c["x_q"].astype(np.float64) - c["zp"])
    s_w = c["s_w"].astype(np.float64)
    wq = c["w_q"].astype(np.float64)
    if depthwise:
        w_t = (wq[0] * s_w).transpose(2, 0, 1)[:, None]  # [C,1,KH,KW]
    else:
        w_t = (wq * s_w[:, None, None, None]).transpose(0, 3, 1, 2)  # OHWI -> OIHW
    s_b = s_w * float(c["s_x"])
    b = c["b_q"] * s_b
    groups = wq.shape[3] if depthwise else 1
    args = (c["stride"], c["dil"], c["padding"], groups)
    dx, dw, db = torch_conv_grads(x, w_t, b, c["dy"], *args)
    mx, mw, mb = torch_conv_grads(np.abs(x), np.abs(w_t), np.abs(b), np.abs(c["dy"]), *args)
    # chain rule to the stored integers: W = s_w W_q, b = s_b b_q
    if depthwise:
        dwq = (dw[:, 0] * s_w[:, None, None])[c["channels"]]
        mwq = (mw[:, 0] * s_w[:, None, None])[c["channels"]]
    else:
        dwq = (dw * s_w[:, None, None, None]).transpose(0, 2, 3, 1)[c["channels"]]
        mwq = (mw * s_w[:, None, None, None]).transpose(0, 2, 3, 1)[c["channels"]]
    return dx, mx, dwq, mwq, (db * s_b)[c["channels"]], (mb * s_b)[c["channels"]]


def scratch_bytes(c, lib_min_fn, lib_fast_fn):
    if c["scratch"] == "fast":
        return None
    if c["scratch"] == "min":
        return lib_min_fn()
    return (lib_min_fn() + lib_fast_fn()) // 2 + 4


@settings(max_examples=60, deadline=None)
@given(conv_case())
def test_conv2d_grads_match_torch_fake_quant(c):
    ffi, lib = get_lib()
    h, w, cin = c["x_q"].shape
    cout, kh, kw, _ = c["w_q"].shape
    kw_args = dict(stride=c["stride"], padding=c["padding"], dilation=c["dil"])
    dx_ref, dx_mag, dw_ref, dw_mag, db_ref, db_mag = fake_quant_reference(c, depthwise=False)

    win = T._window(ffi, lib, h, w, (kh, kw), c["stride"], c["padding"], c["dil"])
    dims = T._dims(ffi, h, w, cin)
    n = len(c["channels"])
    sb_in = scratch_bytes(c, lambda: lib.odl_conv2d_s8_input_grad_f32_scratch_size_min(dims, cout, win),
                          lambda: lib.odl_conv2d_s8_input_grad_f32_scratch_size(dims, cout, win))
    sb_w = scratch_bytes(c, lambda: lib.odl_conv2d_s8_weight_grad_f32_scratch_size_min(dims, win, n),
                         lambda: lib.odl_conv2d_s8_weight_grad_f32_scratch_size(dims, win, n))

    dx = T.conv2d_s8_input_grad_f32(c["dy"], c["w_q"], c["s_w"], (h, w, cin), scratch_bytes=sb_in, **kw_args)
    assert_close(dx, dx_ref, dx_mag, "dX")
    dw, db = T.conv2d_s8_weight_grad_f32(c["dy"], c["x_q"], c["s_x"], c["zp"], c["s_w"], (kh, kw),
                                         channels=c["channels"], scratch_bytes=sb_w, **kw_args)
    assert_close(dw, dw_ref, dw_mag, "dW_q")
    assert_close(db, db_ref, db_mag, "db_q")

    # on the reference matmul path the result does not depend on the blocking the scratch size chose
    with use_path("reference"):
        a = T.conv2d_s8_input_grad_f32(c["dy"], c["w_q"], c["s_w"], (h, w, cin), **kw_args)
        b = T.conv2d_s8_input_grad_f32(c["dy"], c["w_q"], c["s_w"], (h, w, cin), scratch_bytes=int(
            lib.odl_conv2d_s8_input_grad_f32_scratch_size_min(dims, cout, win)), **kw_args)
        np.testing.assert_array_equal(a, b)
        a, _ = T.conv2d_s8_weight_grad_f32(c["dy"], c["x_q"], c["s_x"], c["zp"], c["s_w"], (kh, kw),
                                           channels=c["channels"], **kw_args)
        b, _ = T.conv2d_s8_weight_grad_f32(c["dy"], c["x_q"], c["s_x"], c["zp"], c["s_w"], (kh, kw),
                                           channels=c["channels"], scratch_bytes=int(
                                               lib.odl_conv2d_s8_weight_grad_f32_scratch_size_min(dims, win, n)),
                                           **kw_args)
        np.testing.assert_array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(conv_case(depthwise=True))
def test_depthwise_conv2d_grads_match_torch_fake_quant(c):
    h, w, cin = c["x_q"].shape
    _, kh, kw, _ = c["w_q"].shape
    kw_args = dict(stride=c["stride"], padding=c["padding"], dilation=c["dil"])
    dx_ref, dx_mag, dw_ref, dw_mag, db_ref, db_mag = fake_quant_reference(c, depthwise=True)
    dx = T.depthwise_conv2d_s8_input_grad_f32(c["dy"], c["w_q"], c["s_w"], (1, h, w, cin), **kw_args)
    assert_close(dx, dx_ref, dx_mag, "dX")
    dw, db = T.depthwise_conv2d_s8_weight_grad_f32(c["dy"][None], c["x_q"][None], c["s_x"], c["zp"], c["s_w"],
                                                   (kh, kw), channels=c["channels"], **kw_args)
    assert_close(dw, dw_ref, dw_mag, "dW_q")
    assert_close(db, db_ref, db_mag, "db_q")


def linear_reference(x_q, zp, s_x, w_q, s_w, b_q, dy, channels):
    x = torch.tensor(s_x * (x_q.astype(np.float64) - zp), requires_grad=True)
    wq = torch.tensor(w_q.astype(np.float64), requires_grad=True)
    bq = torch.tensor(b_q.astype(np.float64), requires_grad=True)
    sw = torch.tensor(s_w.astype(np.float64))
    y = x @ (wq * sw[:, None]).T + bq * sw * float(s_x)  # fake quant: W = s_w W_q, b = s_w s_x b_q
    (y * torch.tensor(dy, dtype=torch.float64)).sum().backward()
    return x.grad.numpy(), wq.grad.numpy()[channels], bq.grad.numpy()[channels]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 24), st.integers(1, 12), st.integers(-128, 127), scale,
       st.data())
def test_pointwise_and_fully_connected_grads_match_torch(h, w, cin, cout, zp, s_x, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    s_w = qparams(data.draw, cout)
    x_q = rng.integers(-128, 128, (h, w, cin), dtype=np.int8)
    w_q = rng.integers(-127, 128, (cout, cin), dtype=np.int8)
    b_q = rng.integers(-5000, 5000, cout).astype(np.int32)
    dy = rng.standard_normal((h, w, cout)).astype(np.float32)
    channels = np.array(data.draw(st.permutations(range(cout)))[: data.draw(st.integers(1, cout))], np.int32)
    rows = x_q.reshape(-1, cin)
    dx_ref, dw_ref, db_ref = linear_reference(rows, zp, s_x, w_q, s_w, b_q, dy.reshape(-1, cout), channels)
    # magnitudes for the tolerance: the same sums over absolute values
    xa = np.abs(s_x * (rows.astype(np.float64) - zp))
    wa = np.abs(w_q * s_w[:, None].astype(np.float64))
    da = np.abs(dy.reshape(-1, cout).astype(np.float64))
    dx_mag, dw_mag = da @ wa, ((da.T @ xa) * s_w[:, None])[channels]
    db_mag = (da.sum(0) * s_w * s_x)[channels]

    dx = T.pointwise_conv2d_s8_input_grad_f32(dy, w_q.reshape(cout, 1, 1, cin), s_w)
    assert_close(dx.reshape(-1, cin), dx_ref, dx_mag, "pointwise dX")
    dw, db = T.pointwise_conv2d_s8_weight_grad_f32(dy, x_q, s_x, zp, s_w, channels=channels)
    assert_close(dw, dw_ref, dw_mag, "pointwise dW_q")
    assert_close(db, db_ref, db_mag, "pointwise db_q")

    dx = T.fully_connected_s8_input_grad_f32(dy.reshape(-1, cout), w_q, s_w)
    assert_close(dx, dx_ref, dx_mag, "fc dX")
    dw, db = T.fully_connected_s8_weight_grad_f32(dy.reshape(-1, cout), rows, s_x, zp, s_w, channels=channels,
                                                  scratch_bytes=(cin + len(channels)) * 4)
    assert_close(dw, dw_ref, dw_mag, "fc dW_q")
    assert_close(db, db_ref, db_mag, "fc db_q")


# ---- activation backward and helpers ---------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.integers(-128, 127), st.integers(0, 255), st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_act_backward_zeroes_clamped_outputs(act_min, width, n, seed):
    act_max = min(act_min + width, 127)
    rng = np.random.default_rng(seed)
    # y_q as the int8 forward produces it: a clamp of requantized values, so the boundaries are hit often
    y_q = np.clip(rng.integers(act_min - 20, act_max + 20, n), act_min, act_max).astype(np.int8)
    dy = rng.standard_normal(n).astype(np.float32)
    dx = T.act_backward_s8(y_q, dy, act_min, act_max)
    inside = (y_q.astype(int) > act_min) & (y_q.astype(int) < act_max)
    np.testing.assert_array_equal(dx[inside], dy[inside])
    assert np.all(dx[~inside] == 0)


def test_dequantize_rescale_and_xorshift():
    q = np.arange(-128, 128, dtype=np.int8)
    np.testing.assert_allclose(T.dequantize_s8_f32(q, 0.05, -3), 0.05 * (np.arange(-128, 128) + 3), rtol=1e-6)
    g = np.linspace(-1, 1, 7, dtype=np.float32)
    np.testing.assert_array_equal(T.grad_rescale_f32(g, 4.0), g * 4)
    x = 2463534242
    for _ in range(1000):
        want = py_xorshift32(x)
        assert T.xorshift32_next(x) == want
        x = want


# ---- QAS updates ---------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(1, 40), st.floats(1e-4, 0.5), st.sampled_from([0.0, 0.9]),
       st.sampled_from([0.0, 1e-3]), st.integers(0, 2**32 - 1), st.data())
def test_qas_update_equals_numpy_formula(cout, k, lr, mu, wd, seed, data):
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (cout, k), dtype=np.int8)
    s_w = qparams(data.draw, cout)
    channels = np.array(data.draw(st.permutations(range(cout)))[: data.draw(st.integers(1, cout))], np.int32)
    n = len(channels)
    b = rng.integers(-100000, 100000, cout).astype(np.int32)
    s_x = np.float32(data.draw(scale))
    w_ref, b_ref = w.astype(np.float32), b.astype(np.int64)
    buf, bbuf = np.zeros((n, k), np.float32), np.zeros(n, np.float32)
    buf_ref, bbuf_ref = buf.copy(), bbuf.copy()
    for _ in range(3):
        # gradients w.r.t. the integers of the typical size s_w * (real gradient)
        grad = (rng.standard_normal((n, k)) * s_w[channels, None] * 0.5).astype(np.float32)
        gb = (rng.standard_normal(n) * s_w[channels] * s_x).astype(np.float32)
        T.sgd_qas_update_s8(w, s_w, grad, lr=lr, momentum=mu, weight_decay=wd, channels=channels, momentum_buf=buf)
        T.sgd_qas_update_bias_s32(b, s_w, s_x, gb, lr=lr, momentum=mu, weight_decay=wd, channels=channels,
                                  momentum_buf=bbuf)
        d = qas_delta(grad, s_w[channels, None], w_ref[channels], buf_ref, lr, mu, wd)
        w_ref[channels] = np.clip(w_ref[channels] + round_half_away(d), -127, 127)
        s_b = (s_w[channels] * s_x).astype(np.float32)
        db = qas_delta(gb, s_b, b_ref[channels].astype(np.float32), bbuf_ref, lr, mu, wd)
        b_ref[channels] = b_ref[channels] + round_half_away(db).astype(np.int64)
    np.testing.assert_array_equal(w, w_ref.astype(np.int8))
    np.testing.assert_array_equal(b, b_ref.astype(np.int32))
    if mu:
        np.testing.assert_array_equal(buf, buf_ref)
        np.testing.assert_array_equal(bbuf, bbuf_ref)


def test_qas_master_step_equals_fp32_sgd_step():
    """QAS in words: the integers move by the real SGD step over their scale. One conv layer, torch for dW, db."""
    rng = np.random.default_rng(5)
    x_q = rng.integers(-128, 128, (6, 6, 3), dtype=np.int8)
    w_q = rng.integers(-40, 41, (4, 3, 3, 3), dtype=np.int8)  # away from the clamp at +-127
    s_w = np.array([0.01, 0.003, 0.02, 0.007], np.float32)
    s_x, zp, lr = np.float32(0.02), 5, 0.02
    b_q = rng.integers(-2000, 2000, 4).astype(np.int32)
    dy = rng.standard_normal((6, 6, 4)).astype(np.float32)
    x = s_x * (x_q.astype(np.float64) - zp)
    w_real = (w_q * s_w[:, None, None, None].astype(np.float64)).transpose(0, 3, 1, 2)
    b_real = b_q * s_w.astype(np.float64) * s_x
    _, dw_real, db_real = torch_conv_grads(x, w_real, b_real, dy, (1, 1), (1, 1), "same")
    w_new_real = (w_real - lr * dw_real).transpose(0, 2, 3, 1)
    b_new_real = b_real - lr * db_real

    ch = np.array([2, 0], np.int32)
    dwq, dbq = T.conv2d_s8_weight_grad_f32(dy, x_q, s_x, zp, s_w, 3, padding="same", channels=ch)
    master = T.master_copy_init_s8(w_q, ch)
    np.testing.assert_array_equal(master.reshape(2, 3, 3, 3), w_q[ch])
    T.sgd_qas_update_s8(w_q, s_w, dwq, lr=lr, rounding="master", channels=ch, master=master)
    bmaster = b_q[ch].astype(np.float32)
    T.sgd_qas_update_bias_s32(b_q, s_w, s_x, dbq, lr=lr, rounding="master", channels=ch, master=bmaster)
    got_w = master.reshape(2, 3, 3, 3) * s_w[ch, None, None, None]
    assert np.abs(master).max() < 127
    np.testing.assert_allclose(got_w, w_new_real[ch], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bmaster * s_w[ch] * s_x, b_new_real[ch], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(w_q[ch], np.clip(round_half_away(master), -127, 127).reshape(2, 3, 3, 3))


def test_stochastic_rounding_bits_match_python_xorshift_and_seed_determinism():
    rng = np.random.default_rng(11)
    w0 = rng.integers(-100, 100, (3, 50), dtype=np.int8)
    s_w = np.array([0.02, 0.05, 0.01], np.float32)
    grad = (rng.standard_normal((2, 50)) * 1e-3).astype(np.float32)
    ch = np.array([2, 1], np.int32)
    lr = 0.3

    def run(seed):
        w = w0.copy()
        state = T.sgd_qas_update_s8(w, s_w, grad, lr=lr, rounding="stochastic", channels=ch, rng_state=seed)
        return w, state

    a, sa = run(12345)
    b, sb = run(12345)
    c, _ = run(777)
    np.testing.assert_array_equal(a, b)
    assert sa == sb
    assert (a != c).any()
    # expected bits from an independent model: one xorshift32 draw per element in slice order, u = top 24 bits
    want, x = w0.astype(np.int64), 12345
    d = qas_delta(grad, s_w[ch, None], w0[ch].astype(np.float32), None, lr, 0, 0)
    for j, c_ in enumerate(ch):
        for e in range(50):
            x = py_xorshift32(x)
            u = np.float32(x >> 8) * np.float32(2.0**-24)
            f = np.floor(d[j, e])
            want[c_, e] += int(f) + int(u < d[j, e] - f)
    np.testing.assert_array_equal(a, np.clip(want, -127, 127))
    assert sa == x


def test_stochastic_rounding_is_unbiased_and_nearest_is_not():
    n, steps, step = 4000, 50, 0.05  # each update is a tenth of half an int8 step
    s_w = np.full(8, 0.01, np.float32)
    lr = np.float32(0.1)
    grad = np.full((8, n // 8), step * 0.01 * 0.01 / 0.1, np.float32)  # lr * grad / s^2 == step
    d = float(qas_delta(grad[:1, :1], s_w[:1, None], np.zeros((1, 1), np.float32), None, lr, 0, 0)[0, 0])
    w_sr, w_rn = np.zeros((8, n // 8), np.int8), np.zeros((8, n // 8), np.int8)
    state = 99
    for _ in range(steps):
        state = T.sgd_qas_update_s8(w_sr, s_w, grad, lr=lr, rounding="stochastic", rng_state=state)
        T.sgd_qas_update_s8(w_rn, s_w, grad, lr=lr)
    expect = steps * d  # -2.5
    sigma = np.sqrt(steps * abs(d) * (1 - abs(d)) / n)
    assert abs(w_sr.mean() - expect) < 5 * sigma, (w_sr.mean(), expect, sigma)
    assert np.all(w_rn == 0)  # round-to-nearest loses every update


def test_master_copy_keeps_updates_below_half_a_step():
    s_w = np.array([0.1, 0.1], np.float32)
    grad = np.full((2, 10), 0.2 * 0.01, np.float32)  # lr=1: delta = -0.2 quantized units per step
    w_rn = np.full((2, 10), 7, np.int8)
    w_m = w_rn.copy()
    master = T.master_copy_init_s8(w_m)
    b_rn = np.array([1000, -1000], np.int32)
    b_m = b_rn.copy()
    bmaster = b_m.astype(np.float32)
    gb = np.full(2, 0.2 * (0.1 * 0.5) ** 2, np.float32)
    for _ in range(10):
        T.sgd_qas_update_s8(w_rn, s_w, grad, lr=1.0)
        T.sgd_qas_update_s8(w_m, s_w, grad, lr=1.0, rounding="master", master=master)
        T.sgd_qas_update_bias_s32(b_rn, s_w, 0.5, gb, lr=1.0)
        T.sgd_qas_update_bias_s32(b_m, s_w, 0.5, gb, lr=1.0, rounding="master", master=bmaster)
    assert np.all(w_rn == 7) and np.all(b_rn == [1000, -1000])  # every -0.2 rounded away
    np.testing.assert_allclose(master, 5.0, atol=1e-4)
    assert np.all(w_m == 5)
    np.testing.assert_allclose(bmaster, [998, -1002], atol=1e-3)
    assert np.all(b_m == [998, -1002])


@pytest.mark.parametrize("rounding", ["nearest", "stochastic", "master"])
@pytest.mark.parametrize("depthwise", [False, True])
def test_update_touches_only_selected_channels(rounding, depthwise):
    rng = np.random.default_rng(3)
    shape = (1, 3, 3, 6) if depthwise else (6, 3, 3, 4)
    axis = -1 if depthwise else 0
    w = rng.integers(-127, 128, shape, dtype=np.int8)
    w0 = w.copy()
    s_w = np.full(6, 0.01, np.float32)
    ch = np.array([4, 1], np.int32)
    k = w.size // 6
    grad = np.full((2, k), -5e-4, np.float32)  # delta = +5 quantized units at lr 1
    master = T.master_copy_init_s8(w, ch, channel_axis=axis) if rounding == "master" else None
    T.sgd_qas_update_s8(w, s_w, grad, lr=1.0, rounding=rounding, channels=ch, master=master, rng_state=42,
                        channel_axis=axis, momentum=0.5, momentum_buf=np.zeros((2, k), np.float32))
    moved = np.moveaxis(w.astype(int) - w0, axis, 0).reshape(6, -1)
    expect = np.minimum(np.moveaxis(w0.astype(int), axis, 0).reshape(6, -1) + 5, 127) - np.moveaxis(
        w0.astype(int), axis, 0).reshape(6, -1)
    for c in range(6):
        if c in ch:
            np.testing.assert_array_equal(moved[c], expect[c])
        else:
            assert np.all(moved[c] == 0)
    b = rng.integers(-100, 100, 6).astype(np.int32)
    b0 = b.copy()
    T.sgd_qas_update_bias_s32(b, s_w, 0.1, np.full(2, -1e-6, np.float32) * 5, lr=1.0, rounding=rounding, channels=ch,
                              master=b0[ch].astype(np.float32) if rounding == "master" else None, rng_state=42)
    np.testing.assert_array_equal(np.delete(b, ch), np.delete(b0, ch))
    np.testing.assert_array_equal(b[ch], b0[ch] + 5)


def test_clamps_and_bad_arguments():
    w = np.array([[126, -126]], np.int8)
    T.sgd_qas_update_s8(w, [1.0], np.array([[-10.0, 10.0]], np.float32), lr=1.0)
    np.testing.assert_array_equal(w, [[127, -127]])
    b = np.array([2**31 - 10], np.int32)
    T.sgd_qas_update_bias_s32(b, [1.0], 1.0, np.array([-1000.0], np.float32), lr=1.0)
    assert b[0] == 2**31 - 1
    with pytest.raises(DTypeError):
        T.sgd_qas_update_s8(w.astype(np.int16), [1.0], np.zeros((1, 2), np.float32), lr=1.0)
    with pytest.raises(ShapeError):
        T.sgd_qas_update_s8(w, [1.0], np.zeros((1, 3), np.float32), lr=1.0)
    with pytest.raises(OdlError):
        T.sgd_qas_update_s8(w, [1.0], np.zeros((1, 2), np.float32), lr=1.0, rounding="stochastic", rng_state=0)
    with pytest.raises(OdlError):
        T.sgd_qas_update_s8(w, [1.0], np.zeros((1, 2), np.float32), lr=1.0, momentum=0.9)
    with pytest.raises(ShapeError):
        T.sgd_qas_update_s8(w, [1.0, 1.0], np.zeros((1, 1), np.float32), lr=1.0, channels=[3])
    with pytest.raises(DTypeError):
        T.conv2d_s8_input_grad_f32(np.zeros((2, 2, 1)), np.zeros((1, 1, 1, 1), np.int8), [1.0], (2, 2, 1))
    with pytest.raises(ShapeError):
        T.conv2d_s8_input_grad_f32(np.zeros((3, 2, 1), np.float32), np.zeros((1, 1, 1, 1), np.int8), [1.0],
                                   (2, 2, 1))
    with pytest.raises(OdlError):
        T.conv2d_s8_input_grad_f32(np.zeros((2, 2, 1), np.float32), np.zeros((1, 1, 1, 1), np.int8), [1.0],
                                   (2, 2, 1), scratch_bytes=4)
    ffi, lib = get_lib()
    dims, win = T._dims(ffi, 2, 2, 1), T._window(ffi, lib, 2, 2, 1, 1, "valid", 1)
    buf = np.zeros(4, np.uint8)
    out = np.zeros(4, np.float32)
    st_ = lib.odl_conv2d_s8_input_grad_f32(T.ptr(ffi, out), T.ptr(ffi, np.zeros(1, np.int8)),
                                           T.ptr(ffi, np.ones(1, np.float32)), 1, dims, win, T.ptr(ffi, out),
                                           ffi.from_buffer(buf), 4)
    assert st_ == -3  # ODL_ERR_SCRATCH
    with pytest.raises(KernelError):
        T.check(st_, "x")


# ---- the same bits on the boards: Cortex-M4F and RV32 under QEMU against the host ---------------------------------

CROSS_PROGRAM = r"""
#include <stdio.h>
#include "odl/matmul.h"
#include "odl/train_s8.h"

static uint32_t fnv(uint32_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; ++i) { h ^= b[i]; h *= 16777619u; }
    return h;
}
static uint32_t gen = 2463534242u;
static float unit(void) { return (float)(int32_t)odl_xorshift32_next(&gen) / 2147483648.0f; }

#define C 6
#define K 40
static int8_t w[C * K], wd[K * C];
static int32_t b[C];
static float s_w[C], g[4 * K], gb[4], buf[4 * K], bufd[4 * K], bbuf[4], master[4 * K], masterd[4 * K], bmaster[4];

static int updates(void) {
    for (int i = 0; i < C * K; ++i) w[i] = wd[i] = (int8_t)((int)(odl_xorshift32_next(&gen) % 255) - 127);
    for (int i = 0; i < C; ++i) {
        b[i] = (int32_t)(odl_xorshift32_next(&gen) % 200001) - 100000;
        s_w[i] = 0.001f + 0.01f * (float)i;
    }
    const int32_t ch[4] = {5, 0, 3, 2};
    if (odl_master_copy_init_s8(w, C, K, K, 1, ch, 4, master)) return 1;
    if (odl_master_copy_init_s8(wd, C, K, 1, C, ch, 4, masterd)) return 1;
    for (int j = 0; j < 4; ++j) bmaster[j] = (float)b[ch[j]];
    uint32_t rng = 12345;
    for (int step = 0; step < 30; ++step) {
        for (int i = 0; i < 4 * K; ++i) g[i] = unit() * 0.003f;
        for (int i = 0; i < 4; ++i) gb[i] = unit() * 1e-5f;
        odl_sgd_params p = {0.01f + 0.001f * (float)step, 0.9f, 1e-3f, (odl_rounding)(step % 3)};
        if (odl_sgd_qas_update_s8(w, C, K, K, 1, s_w, ch, 4, g, buf, master, &rng, &p)) return 1;
        if (odl_sgd_qas_update_bias_s32(b, C, s_w, 0.02f, ch, 4, gb, bbuf, bmaster, &rng, &p)) return 1;
        if (odl_sgd_qas_update_s8(wd, C, K, 1, C, s_w, ch, 4, g, bufd, masterd, &rng, &p)) return 1;
    }
    uint32_t h = fnv(2166136261u, w, sizeof w);
    h = fnv(h, wd, sizeof wd);
    h = fnv(h, b, sizeof b);
    printf("ints %08lx\n", (unsigned long)h);
    h = fnv(2166136261u, buf, sizeof buf);
    h = fnv(h, bufd, sizeof bufd);
    h = fnv(h, master, sizeof master);
    h = fnv(h, masterd, sizeof masterd);
    h = fnv(h, bbuf, sizeof bbuf);
    h = fnv(h, bmaster, sizeof bmaster);
    printf("floats %08lx rng %08lx\n", (unsigned long)h, (unsigned long)rng);
    return 0;
}

static int8_t xq[7 * 9 * 5], wq[6 * 3 * 3 * 5], dwq[3 * 3 * 5];
static float dy[7 * 9 * 6], dyd[7 * 9 * 5], dx[7 * 9 * 5], gw[6 * 45], gbias[6], scratch[4096];

static int grads(void) {
    for (unsigned i = 0; i < sizeof xq; ++i) xq[i] = (int8_t)odl_xorshift32_next(&gen);
    for (unsigned i = 0; i < sizeof wq; ++i) wq[i] = (int8_t)((int)(odl_xorshift32_next(&gen) % 255) - 127);
    for (unsigned i = 0; i < sizeof dwq; ++i) dwq[i] = (int8_t)((int)(odl_xorshift32_next(&gen) % 255) - 127);
    for (unsigned i = 0; i < 7 * 9 * 6; ++i) dy[i] = unit();
    for (unsigned i = 0; i < 7 * 9 * 5; ++i) dyd[i] = unit();
    const odl_dims in = {1, 7, 9, 5};
    const int32_t ch[3] = {4, 1, 5}, chd[3] = {4, 1, 2};
    odl_window win;
    if (odl_conv_geometry(7, 9, 3, 3, 1, 1, 1, 1, ODL_PAD_SAME, &win)) return 1;
    if (odl_conv2d_s8_input_grad_f32(dy, wq, s_w, 6, &in, &win, dx, scratch, sizeof scratch)) return 1;
    uint32_t h = fnv(2166136261u, dx, sizeof dx);
    if (odl_conv2d_s8_input_grad_f32(dy, wq, s_w, 6, &in, &win, dx, scratch, 7 * sizeof(float))) return 1;
    h = fnv(h, dx, sizeof dx);
    if (odl_conv2d_s8_weight_grad_f32(dy, 6, xq, 0.02f, -7, &in, &win, s_w, ch, 3, gw, gbias, scratch,
                                      sizeof scratch)) return 1;
    h = fnv(fnv(h, gw, 3 * 45 * sizeof(float)), gbias, 3 * sizeof(float));
    printf("conv2d %08lx\n", (unsigned long)h);
    if (odl_conv_geometry(7, 9, 3, 3, 2, 1, 1, 2, ODL_PAD_SAME, &win)) return 1;
    if (odl_depthwise_conv2d_s8_input_grad_f32(dyd, dwq, s_w, &in, &win, dx)) return 1;
    h = fnv(2166136261u, dx, sizeof dx);
    if (odl_depthwise_conv2d_s8_weight_grad_f32(dyd, xq, 0.02f, 3, &in, &win, s_w, chd, 3, gw, gbias)) return 1;
    h = fnv(fnv(h, gw, 3 * 9 * sizeof(float)), gbias, 3 * sizeof(float));
    printf("depthwise %08lx\n", (unsigned long)h);
    return 0;
}

int main(void) {
    odl_path_select(ODL_PATH_REFERENCE);
    int rc = updates() || grads();
    printf("rc %d\n", rc);
    return rc;
}
"""

ARM_STARTUP = r"""
#include <stdint.h>
extern int main(void);
extern void initialise_monitor_handles(void);
extern void exit(int);
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
void _init(void) {}
void _fini(void) {}
void Reset_Handler(void) {
    uint32_t *s = &_sidata, *d = &_sdata;
    while (d < &_edata) *d++ = *s++;
    for (d = &_sbss; d < &_ebss;) *d++ = 0;
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20; /* CPACR: enable the FPU */
    __asm volatile("dsb; isb");
    initialise_monitor_handles();
    exit(main());
}
void Default_Handler(void) { for (;;); }
__attribute__((section(".isr_vector"))) void (*const vectors[16])(void) = {
    (void (*)(void))&_estack, Reset_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler};
"""

RV_STARTUP = r"""
    .section .text.start
    .globl _start
_start:
    la sp, _estack
    li t0, 0x2000          /* mstatus.FS: enable the FPU */
    csrs mstatus, t0
    la t0, _sidata
    la t1, _sdata
    la t2, _edata
1:  bgeu t1, t2, 2f
    lw t3, 0(t0)
    sw t3, 0(t1)
    addi t0, t0, 4
    addi t1, t1, 4
    j 1b
2:  la t1, _sbss
    la t2, _ebss
3:  bgeu t1, t2, 4f
    sw zero, 0(t1)
    addi t1, t1, 4
    j 3b
4:  call main
    call exit
5:  j 5b
"""

LINKER = """
MEMORY {{ FLASH (rx) : ORIGIN = {flash}, LENGTH = 1M  RAM (rwx) : ORIGIN = {ram}, LENGTH = 256K }}
ENTRY({entry})
_estack = ORIGIN(RAM) + LENGTH(RAM);
SECTIONS {{
  .text : {{ KEEP(*(.isr_vector)) KEEP(*(.text.start)) *(.text*) *(.rodata*) *(.srodata*) . = ALIGN(4); }} > FLASH
  .ARM.exidx : {{ *(.ARM.exidx*) }} > FLASH
  _sidata = LOADADDR(.data);
  .data : {{ _sdata = .; __global_pointer$ = . + 0x800; *(.data*) *(.sdata*) . = ALIGN(4); _edata = .; }} > RAM AT > FLASH
  .bss : {{ _sbss = .; *(.bss*) *(.sbss*) *(COMMON) . = ALIGN(4); _ebss = .; end = .; _end = .; }} > RAM
  .tbss : {{ *(.tbss*) }} > RAM
  __heap_start = .;
  __heap_end = _estack - 0x2000;
}}
"""


def _run(cmd, what, timeout=120):
    """Run a tool; return the program's result lines (QEMU's semihosting console may use stdout or stderr)."""
    import subprocess

    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, f"{what} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
    keys = ("ints ", "floats ", "conv2d ", "depthwise ", "rc ")
    return "".join(ln + "\n" for ln in (res.stdout + res.stderr).splitlines() if ln.startswith(keys))


def test_same_bits_on_host_cortex_m4_and_rv32(tmp_path):
    """Updates (all three rounding modes, momentum, decay) and gradients give identical bits on the host build, a
    Cortex-M4F (QEMU mps2-an386) and an RV32IMAFC core (QEMU virt), on the reference matmul path."""
    import glob
    import shutil

    from toolkit.host.build import CSRC, DEFAULT_CFLAGS

    tools = ["gcc", "arm-none-eabi-gcc", "qemu-system-arm", "clang-19", "ld.lld-19", "qemu-system-riscv32"]
    missing = [t for t in tools if not shutil.which(t)]
    picolibc = "/usr/lib/picolibc/riscv64-unknown-elf"
    libgcc_rv = sorted(glob.glob("/usr/lib/gcc/riscv64-unknown-elf/*/rv32imafc/ilp32f/libgcc.a"))
    if missing or not libgcc_rv:
        pytest.skip(f"cross tools missing: {missing or 'libgcc for rv32imafc'} (run `make setup`)")
    (tmp_path / "prog.c").write_text(CROSS_PROGRAM)
    srcs = sorted(glob.glob(str(CSRC / "kernels/ref/train_s8_*.c"))) + [
        str(CSRC / p) for p in ("kernels/ref/matmul_ref.c", "kernels/ref/common.c", "kernels/dispatch.c")]
    inc = [f"-I{CSRC / 'include'}", f"-I{CSRC / 'kernels'}"]
    common = ["-O2", "-std=gnu11", "-ffp-contract=off", *inc, str(tmp_path / "prog.c"), *srcs]

    host = _run(["gcc", *DEFAULT_CFLAGS, *inc, tmp_path / "prog.c", *srcs, "-lm", "-o", tmp_path / "host"], "gcc")
    host = _run([tmp_path / "host"], "host program")

    (tmp_path / "start.c").write_text(ARM_STARTUP)
    (tmp_path / "arm.ld").write_text(LINKER.format(flash="0x0", ram="0x20000000", entry="Reset_Handler"))
    _run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
          "-mfp16-format=ieee", "--specs=rdimon.specs", "-nostartfiles", "-T", tmp_path / "arm.ld",
          tmp_path / "start.c", *common, "-lm", "-o", tmp_path / "arm.elf"], "arm-none-eabi-gcc")
    arm = _run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting", "-monitor", "none", "-serial",
                "none", "-kernel", tmp_path / "arm.elf"], "qemu-system-arm")

    (tmp_path / "start.S").write_text(RV_STARTUP)
    (tmp_path / "rv.ld").write_text(LINKER.format(flash="0x80000000", ram="0x80100000", entry="_start"))
    (tmp_path / "em").mkdir()
    (tmp_path / "em" / "libm.a").write_text("!<arch>\n")  # picolibc keeps libm in libc.a
    libdir = f"{picolibc}/lib/release/rv32imafc/ilp32f"
    _run(["clang-19", "--target=riscv32-unknown-elf", "-march=rv32imafc_zicsr_zfh", "-mabi=ilp32f",
          "-mcmodel=medany", "-nostdlibinc", "-isystem", f"{picolibc}/include", "-fuse-ld=lld-19", "-nostdlib",
          tmp_path / "start.S", *common, f"-L{tmp_path / 'em'}", f"-L{libdir}", f"-Wl,-T,{tmp_path / 'rv.ld'}",
          "-Wl,--start-group", "-lc", "-lsemihost", libgcc_rv[-1], "-Wl,--end-group", "-o", tmp_path / "rv.elf"],
         "clang-19 riscv32")
    rv = _run(["qemu-system-riscv32", "-M", "virt", "-cpu", "rv32,Zfh=true", "-bios", "none", "-nographic",
               "-semihosting-config", "enable=on,target=native", "-monitor", "none", "-serial", "none", "-kernel",
               tmp_path / "rv.elf"], "qemu-system-riscv32")

    assert "rc 0" in host and len(host.splitlines()) == 5, host
    assert arm == host, f"Cortex-M4F differs from the host:\n{arm}\nvs\n{host}"
    assert rv == host, f"RV32 differs from the host:\n{rv}\nvs\n{host}"
