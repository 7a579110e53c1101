"""FP16 training kernels against torch float64 on the same (exactly representable) FP16 inputs.

Stated tolerance, with u = 2^-11 (FP16 unit roundoff) and M = the same computation on absolute values (sum of
|a*b| feeding each output):
    |got - ref| <= u*|ref| + r*u*M + 1e-5*M + 2^-24
- u*|ref|: the final rounding to FP16 of an FP32-accumulated result (every kernel accumulates in FP32);
- 1e-5*M: FP32 accumulation of K <= 100 terms (K * 2^-24 < 1e-5);
- 2^-24: FP16 subnormal spacing;
- r*u*M: extra FP16 roundings where the kernel stores partial results, r per kernel as documented in
  kernels_fp.h: conv2d weight grad r = number of row blocks (batch * ceil(P / scratch_rows)); conv2d input grad
  r = 1 + kh*kw (dcol rounding plus col2im additions); max-pool backward r = ceil(k/s)^2; everything else r = 0.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from toolkit.errors import DTypeError
from toolkit.host import get_lib, use_path
from toolkit.host import kernels_fp as K

U = 2.0**-11
SETTINGS = dict(deadline=None, derandomize=True)


def tflite_pads(size, k, s, d, padding):
    eff = (k - 1) * d + 1
    if padding == "valid":
        return (size - eff) // s + 1, 0, 0
    out = -(-size // s)
    total = max((out - 1) * s + eff - size, 0)
    return out, total // 2, total - total // 2


def to_t(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64)).requires_grad_(grad)


def nchw(t):
    return t.permute(0, 3, 1, 2)


def nhwc(t):
    return t.permute(0, 2, 3, 1)


def f16(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float16)


def within(got, ref, mag, r=0, what=""):
    assert got.dtype == np.float16, what
    got = got.astype(np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    mag = np.asarray(mag, dtype=np.float64)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    bound = U * np.abs(ref) + r * U * mag + 1e-5 * mag + 2.0**-24
    err = np.abs(got - ref)
    worst = np.argmax(err / bound) if err.size else 0
    assert np.all(err <= bound), f"{what}: err {err.flat[worst]} > bound {bound.flat[worst]} at {worst}"


def torch_conv(x, w, b, stride, dilation, padding, groups=1):
    kh, kw = w.shape[1], w.shape[2]
    _, pt, pb = tflite_pads(x.shape[1], kh, stride, dilation, padding)
    _, pl, pr = tflite_pads(x.shape[2], kw, stride, dilation, padding)
    wt = w.permute(0, 3, 1, 2) if groups == 1 else w.permute(3, 0, 1, 2)
    return nhwc(F.conv2d(F.pad(nchw(x), (pl, pr, pt, pb)), wt, b, stride=stride, dilation=dilation, groups=groups))


def run_conv(x, w, b, dy, stride, dilation, padding, groups=1):
    """(y, dx, dw, db) and their magnitudes from torch float64."""
    xt, wt = to_t(x, True), to_t(w, True)
    bt = to_t(b, True) if b is not None else None
    yt = torch_conv(xt, wt, bt, stride, dilation, padding, groups)
    yt.backward(to_t(dy))
    xa, wa = to_t(np.abs(x.astype(np.float64)), True), to_t(np.abs(w.astype(np.float64)), True)
    ba = to_t(np.abs(b.astype(np.float64))) if b is not None else None
    ya = torch_conv(xa, wa, ba, stride, dilation, padding, groups)
    ya.backward(to_t(np.abs(dy.astype(np.float64))))
    ref = dict(y=yt.detach().numpy(), dx=xt.grad.numpy(), dw=wt.grad.numpy(), db=bt.grad.numpy() if b is not None else None)
    mag = dict(y=ya.detach().numpy(), dx=xa.grad.numpy(), dw=wa.grad.numpy(),
               db=np.abs(dy.astype(np.float64)).sum(axis=(0, 1, 2)))
    return ref, mag


def out_shape(n, h, w, c, kh, kw, s, d, padding):
    return (n, tflite_pads(h, kh, s, d, padding)[0], tflite_pads(w, kw, s, d, padding)[0], c)


conv_shapes = st.fixed_dictionaries(
    dict(
        n=st.integers(1, 2), h=st.integers(1, 9), w=st.integers(1, 9), cin=st.integers(1, 5), cout=st.integers(1, 5),
        kh=st.integers(1, 4), kw=st.integers(1, 4), stride=st.integers(1, 3), dilation=st.integers(1, 2),
        padding=st.sampled_from(["same", "valid"]), path=st.sampled_from(["reference", "host"]),
        rows=st.one_of(st.none(), st.integers(1, 8)), seed=st.integers(0, 2**31 - 1),
    )
)


def _valid(c):
    eff_h, eff_w = (c["kh"] - 1) * c["dilation"] + 1, (c["kw"] - 1) * c["dilation"] + 1
    return c["padding"] == "same" or (eff_h <= c["h"] and eff_w <= c["w"])


@settings(max_examples=30, **SETTINGS)
@given(conv_shapes)
def test_conv2d_f16_within_stated_tolerance(c):
    assume(_valid(c))
    rng = np.random.default_rng(c["seed"])
    x = f16(rng, (c["n"], c["h"], c["w"], c["cin"]))
    w = f16(rng, (c["cout"], c["kh"], c["kw"], c["cin"]))
    b = f16(rng, c["cout"])
    oshape = out_shape(c["n"], c["h"], c["w"], c["cout"], c["kh"], c["kw"], c["stride"], c["dilation"], c["padding"])
    dy = f16(rng, oshape)
    ref, mag = run_conv(x, w, b, dy, c["stride"], c["dilation"], c["padding"])
    kw = dict(stride=c["stride"], dilation=c["dilation"], padding=c["padding"], path=c["path"],
              scratch_rows=c["rows"])
    within(K.conv2d_forward(x, w, b, **kw), ref["y"], mag["y"], what="forward")
    dw, db = K.conv2d_weight_grad(x, dy, kernel=(c["kh"], c["kw"]), **kw)
    P = oshape[1] * oshape[2]
    identity = c["kh"] == c["kw"] == 1 and c["stride"] == 1
    blocks = c["n"] * (1 if (c["rows"] is None or identity) else math.ceil(P / min(c["rows"], P)))
    within(dw, ref["dw"], mag["dw"], r=blocks, what="weight grad")
    within(db, ref["db"], mag["db"], what="bias grad")
    dx = K.conv2d_input_grad(dy, w, x_shape=x.shape, **kw)
    within(dx, ref["dx"], mag["dx"], r=1 + c["kh"] * c["kw"], what="input grad")


@settings(max_examples=20, **SETTINGS)
@given(conv_shapes)
def test_depthwise_conv2d_f16(c):
    assume(_valid(c))
    rng = np.random.default_rng(c["seed"])
    C = c["cin"]
    x = f16(rng, (c["n"], c["h"], c["w"], C))
    w = f16(rng, (1, c["kh"], c["kw"], C))
    b = f16(rng, C)
    dy = f16(rng, out_shape(c["n"], c["h"], c["w"], C, c["kh"], c["kw"], c["stride"], c["dilation"], c["padding"]))
    ref, mag = run_conv(x, w, b, dy, c["stride"], c["dilation"], c["padding"], groups=C)
    kw = dict(stride=c["stride"], dilation=c["dilation"], padding=c["padding"])
    within(K.depthwise_conv2d_forward(x, w, b, **kw), ref["y"], mag["y"], what="forward")
    dw, db = K.depthwise_conv2d_weight_grad(x, dy, kernel=(c["kh"], c["kw"]), **kw)
    within(dw, ref["dw"], mag["dw"], what="weight grad")
    within(db, ref["db"], mag["db"], what="bias grad")
    within(K.depthwise_conv2d_input_grad(dy, w, x_shape=x.shape, **kw), ref["dx"], mag["dx"], what="input grad")


@settings(max_examples=20, **SETTINGS)
@given(
    n=st.integers(1, 2), h=st.integers(1, 5), w=st.integers(1, 5), cin=st.integers(1, 40), cout=st.integers(1, 40),
    path=st.sampled_from(["reference", "host"]), seed=st.integers(0, 2**31 - 1),
)
def test_pointwise_and_fully_connected_f16(n, h, w, cin, cout, path, seed):
    rng = np.random.default_rng(seed)
    x, wt, b = f16(rng, (n, h, w, cin)), f16(rng, (cout, 1, 1, cin)), f16(rng, cout)
    dy = f16(rng, (n, h, w, cout))
    ref, mag = run_conv(x, wt, b, dy, 1, 1, "valid")
    within(K.pointwise_conv2d_forward(x, wt, b, path=path), ref["y"], mag["y"])
    dw, db = K.pointwise_conv2d_weight_grad(x, dy, path=path)
    within(dw, ref["dw"], mag["dw"])
    within(db, ref["db"], mag["db"])
    within(K.pointwise_conv2d_input_grad(dy, wt, path=path), ref["dx"], mag["dx"])
    X, W, dY = x.reshape(-1, cin), wt.reshape(cout, cin), dy.reshape(-1, cout)
    within(K.fully_connected_forward(X, W, b, path=path), ref["y"].reshape(-1, cout), mag["y"].reshape(-1, cout))
    dW, dB = K.fully_connected_weight_grad(X, dY, path=path)
    within(dW, ref["dw"].reshape(cout, cin), mag["dw"].reshape(cout, cin))
    within(dB, ref["db"], mag["db"])
    within(K.fully_connected_input_grad(dY, W, path=path), ref["dx"].reshape(-1, cin), mag["dx"].reshape(-1, cin))


def torch_pool(x, k, s, padding, kind):
    _, pt, pb = tflite_pads(x.shape[1], k, s, 1, padding)
    _, pl, pr = tflite_pads(x.shape[2], k, s, 1, padding)
    if kind == "max":
        return nhwc(F.max_pool2d(F.pad(nchw(x), (pl, pr, pt, pb), value=-np.inf), k, s))
    ones = F.pad(torch.ones_like(nchw(x)), (pl, pr, pt, pb))
    return nhwc(F.avg_pool2d(F.pad(nchw(x), (pl, pr, pt, pb)), k, s) / F.avg_pool2d(ones, k, s))


@settings(max_examples=25, **SETTINGS)
@given(
    h=st.integers(1, 8), w=st.integers(1, 8), c=st.integers(1, 4), k=st.integers(1, 4), s=st.integers(1, 3),
    padding=st.sampled_from(["same", "valid"]), seed=st.integers(0, 2**31 - 1),
)
def test_pools_f16(h, w, c, k, s, padding, seed):
    assume(padding == "same" or k <= min(h, w))
    rng = np.random.default_rng(seed)
    x = f16(rng, (1, h, w, c))
    xt = to_t(x, True)
    yt = torch_pool(xt, k, s, padding, "avg")
    dy = f16(rng, tuple(yt.shape))
    yt.backward(to_t(dy))
    xa = to_t(np.abs(x.astype(np.float64)), True)
    ya = torch_pool(xa, k, s, padding, "avg")
    ya.backward(to_t(np.abs(dy.astype(np.float64))))
    within(K.avg_pool2d_forward(x, pool=k, stride=s, padding=padding), yt.detach().numpy(), ya.detach().numpy())
    within(K.avg_pool2d_backward(dy, x_shape=x.shape, pool=k, stride=s, padding=padding), xt.grad.numpy(),
           xa.grad.numpy())
    xt = to_t(x, True)
    yt = torch_pool(xt, k, s, padding, "max")
    yt.backward(to_t(dy))
    np.testing.assert_array_equal(K.max_pool2d_forward(x, pool=k, stride=s, padding=padding),
                                  yt.detach().numpy().astype(np.float16))
    r = math.ceil(k / s) ** 2
    within(K.max_pool2d_backward(x, dy, pool=k, stride=s, padding=padding), xt.grad.numpy(),
           np.abs(xt.grad.numpy()) + np.abs(dy.astype(np.float64)).max(), r=r)
    within(K.global_avg_pool_forward(x), x.astype(np.float64).mean(axis=(1, 2)),
           np.abs(x.astype(np.float64)).mean(axis=(1, 2)))
    g = f16(rng, (1, c))
    within(K.global_avg_pool_backward(g, x_shape=x.shape),
           np.broadcast_to(g.astype(np.float64)[:, None, None, :] / (h * w), x.shape), np.zeros(x.shape))


def test_relu_family_f16_and_mask():
    rng = np.random.default_rng(2)
    x = f16(rng, 203, scale=5.0)
    x[::7] = 0
    x[::11] = 6
    dy = f16(rng, 203)
    dy[dy == 0] = 1
    for fwd, bwd, fwd_mask, tfn in ((K.relu_forward, K.relu_backward, K.relu_forward_mask, F.relu),
                                    (K.relu6_forward, K.relu6_backward, K.relu6_forward_mask, F.relu6)):
        xt = to_t(x, True)
        yt = tfn(xt)
        yt.backward(to_t(dy))
        y = fwd(x)
        np.testing.assert_array_equal(y, yt.detach().numpy().astype(np.float16))
        dx = bwd(y, dy)
        np.testing.assert_array_equal(dx, xt.grad.numpy().astype(np.float16))
        ym, mask = fwd_mask(x)
        np.testing.assert_array_equal(ym, y)
        np.testing.assert_array_equal(K.relu_mask_backward(mask, dy), dx)
    assert mask.nbytes * 16 >= x.nbytes  # 1 bit per 16-bit element


@settings(max_examples=25, **SETTINGS)
@given(n=st.integers(1, 40), scale=st.sampled_from([0.1, 1.0, 10.0, 1000.0]), seed=st.integers(0, 2**31 - 1))
def test_softmax_cross_entropy_f16(n, scale, seed):
    rng = np.random.default_rng(seed)
    z = f16(rng, n, scale)
    label = int(rng.integers(0, n))
    zt = to_t(z, True)
    lt = F.cross_entropy(zt[None], torch.tensor([label]))
    lt.backward()
    loss, dz = K.softmax_cross_entropy(z, label)
    assert abs(loss - lt.item()) <= 1e-5 * max(1.0, abs(lt.item())) + 1e-6 * scale
    within(dz, zt.grad.numpy(), np.ones(n) * 1e-2)  # softmax error in FP32 ~1e-7 << 1e-5 * 1e-2 + 2^-24


def test_sgd_f16_and_master_copy_vs_torch():
    rng = np.random.default_rng(9)
    steps, lr, mom, wd = 6, 0.05, 0.9, 1e-3
    w16 = f16(rng, 64)
    wm16, master, bufm = w16.copy(), w16.astype(np.float32), np.zeros(64, np.float32)
    buf16 = np.zeros(64, np.float16)
    p = torch.nn.Parameter(to_t(w16))
    opt = torch.optim.SGD([p], lr=lr, momentum=mom, weight_decay=wd)
    for step in range(steps):
        g = f16(rng, 64)
        p.grad = to_t(g)
        opt.step()
        K.sgd_update(w16, g, buf16, lr=lr, momentum=mom, weight_decay=wd)
        K.sgd_update(wm16, g, bufm, lr=lr, momentum=mom, weight_decay=wd, master=master)
        ref = p.detach().numpy()
        # master copy: FP32 arithmetic only; w16 is its rounding
        np.testing.assert_allclose(master, ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(wm16, master.astype(np.float16))
        # pure FP16: w and buf rounded every step; error grows at most ~ (steps) * u * (|w| + lr*|buf|)
        bound = (step + 1) * 2 * U * (np.abs(ref) + lr * np.abs(opt.state[p]["momentum_buffer"].numpy()) + 1e-3)
        assert np.all(np.abs(w16.astype(np.float64) - ref) <= bound), f"step {step}"


@settings(max_examples=30, **SETTINGS)
@given(
    m=st.integers(1, 110), n=st.integers(1, 40), k=st.sampled_from([1, 3, 31, 256, 257]),
    layout=st.sampled_from([0, 1, 2]), accumulate=st.booleans(), seed=st.integers(0, 2**31 - 1),
)
def test_matmul_f16_host_equals_reference(m, n, k, layout, accumulate, seed):
    """FP32 accumulation in the same order on both paths: bit-identical; and within u*|ref| + 1e-5*M of float64."""
    ffi, lib = get_lib()
    rng = np.random.default_rng(seed)
    a = f16(rng, (k, m) if layout == 2 else (m, k))
    b = f16(rng, (n, k) if layout == 0 else (k, n))
    c0 = f16(rng, (m, n))
    hp = lambda arr: ffi.cast("odl_f16 *", ffi.from_buffer(arr))  # noqa: E731
    out = {}
    for path in ("reference", "host"):
        c = c0.copy()
        with use_path(path):
            assert lib.odl_matmul_f16(layout, hp(a), hp(b), hp(c), m, n, k, int(accumulate)) == 0
        out[path] = c
    np.testing.assert_array_equal(out["host"], out["reference"])
    A = (a.T if layout == 2 else a).astype(np.float64)
    B = (b.T if layout == 0 else b).astype(np.float64)
    acc = c0.astype(np.float64) if accumulate else 0.0
    within(out["host"], A @ B + acc, np.abs(A) @ np.abs(B) + np.abs(acc))


def test_f16_dtype_mixing_is_rejected():
    x = np.zeros((1, 4, 4, 2), np.float16)
    with pytest.raises(DTypeError):
        K.conv2d_forward(x, np.zeros((1, 3, 3, 2), np.float32))
    with pytest.raises(DTypeError):
        K.sgd_update(np.zeros(4, np.float32), np.zeros(4, np.float32), lr=0.1, master=np.zeros(4, np.float32))
    with pytest.raises(DTypeError):
        K.sgd_update(np.zeros(4, np.float16), np.zeros(4, np.float16), np.zeros(4, np.float16), lr=0.1,
                     momentum=0.9, master=np.zeros(4, np.float32))  # master variant keeps an FP32 buffer
