"""FP32 training kernels against torch.autograd (float64), host fast path against the reference.

Tolerance for sums of products: |got - ref| <= 1e-4 * |ref| + 1e-5 * M, where M is the same computation on
absolute values (the sum of |a*b| feeding each output). FP32 summation of K terms errs by at most ~K * 2^-24 * M,
and K <= 100 here, so 1e-5 * M is a true bound, not a fudge. SAME padding (TFLite: extra padding at the end) is
built for torch with an explicit F.pad.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from toolkit.errors import DTypeError, KernelError, OdlError, ShapeError
from toolkit.host import get_lib, use_path
from toolkit.host import kernels_fp as K

torch.set_grad_enabled(True)
SETTINGS = dict(deadline=None, derandomize=True)


def tflite_pads(size, k, s, d, padding):
    """(out, lead, trail) computed independently from TFLite's definition."""
    eff = (k - 1) * d + 1
    if padding == "valid":
        return (size - eff) // s + 1, 0, 0
    out = -(-size // s)
    total = max((out - 1) * s + eff - size, 0)
    return out, total // 2, total - total // 2


def to_t(a, grad=False):
    t = torch.tensor(np.asarray(a, dtype=np.float64))
    return t.requires_grad_(grad)


def nchw(t):
    return t.permute(0, 3, 1, 2)


def nhwc(t):
    return t.permute(0, 2, 3, 1)


def close(got, ref, mag, rtol=1e-4, atol_rel=1e-5, what=""):
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    bound = rtol * np.abs(ref) + atol_rel * np.asarray(mag) + 1e-30
    err = np.abs(got - ref)
    worst = np.argmax(err / bound) if err.size else 0
    assert np.all(err <= bound), f"{what}: err {err.flat[worst]} > bound {bound.flat[worst]} at {worst}"


def torch_conv(x, w, b, stride, dilation, padding, groups=1):
    """x NHWC, w OHWI (or 1HWC for depthwise) as float64 tensors -> y NHWC, TFLite padding."""
    kh, kw = w.shape[1], w.shape[2]
    _, pt, pb = tflite_pads(x.shape[1], kh, stride, dilation, padding)
    _, pl, pr = tflite_pads(x.shape[2], kw, stride, dilation, padding)
    wt = w.permute(0, 3, 1, 2) if groups == 1 else w.permute(3, 0, 1, 2)
    y = F.conv2d(F.pad(nchw(x), (pl, pr, pt, pb)), wt, b, stride=stride, dilation=dilation, groups=groups)
    return nhwc(y)


conv_shapes = st.fixed_dictionaries(
    dict(
        n=st.integers(1, 2), h=st.integers(1, 9), w=st.integers(1, 9), cin=st.integers(1, 5), cout=st.integers(1, 5),
        kh=st.integers(1, 4), kw=st.integers(1, 4), stride=st.integers(1, 3), dilation=st.integers(1, 2),
        padding=st.sampled_from(["same", "valid"]), path=st.sampled_from(["reference", "host"]),
        rows=st.one_of(st.none(), st.integers(1, 8)), bias=st.booleans(), seed=st.integers(0, 2**31 - 1),
    )
)


def _valid(c):
    for size, k in ((c["h"], c["kh"]), (c["w"], c["kw"])):
        if c["padding"] == "valid" and (k - 1) * c["dilation"] + 1 > size:
            return False
    return True


@settings(max_examples=40, **SETTINGS)
@given(conv_shapes)
def test_conv2d_forward_and_gradients_match_torch(c):
    assume(_valid(c))
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["n"], c["h"], c["w"], c["cin"])).astype(np.float32)
    w = rng.standard_normal((c["cout"], c["kh"], c["kw"], c["cin"])).astype(np.float32)
    b = rng.standard_normal(c["cout"]).astype(np.float32) if c["bias"] else None
    kw = dict(stride=c["stride"], dilation=c["dilation"], padding=c["padding"], path=c["path"],
              scratch_rows=c["rows"])
    y = K.conv2d_forward(x, w, b, **kw)

    xt, wt = to_t(x, True), to_t(w, True)
    bt = to_t(b, True) if b is not None else None
    yt = torch_conv(xt, wt, bt, c["stride"], c["dilation"], c["padding"])
    dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(to_t(dy))
    # magnitudes: the same computation on absolute values
    xa, wa = to_t(np.abs(x), True), to_t(np.abs(w), True)
    ya = torch_conv(xa, wa, to_t(np.abs(b)) if b is not None else None, c["stride"], c["dilation"], c["padding"])
    ya.backward(to_t(np.abs(dy)))

    close(y, yt.detach().numpy(), ya.detach().numpy(), what="forward")
    dw, db = K.conv2d_weight_grad(x, dy, kernel=(c["kh"], c["kw"]), bias=c["bias"], **kw)
    close(dw, wt.grad.numpy(), wa.grad.numpy(), what="weight grad")
    if c["bias"]:
        close(db, bt.grad.numpy(), np.abs(dy).sum(axis=(0, 1, 2)), what="bias grad")
    else:
        assert db is None
    dx = K.conv2d_input_grad(dy, w, x_shape=x.shape, **kw)
    close(dx, xt.grad.numpy(), xa.grad.numpy(), what="input grad")


@settings(max_examples=25, **SETTINGS)
@given(
    h=st.integers(1, 8), w=st.integers(1, 8), c=st.integers(1, 4), k=st.integers(1, 3), s=st.integers(1, 3),
    d=st.integers(1, 2), padding=st.sampled_from(["same", "valid"]), seed=st.integers(0, 2**31 - 1),
)
def test_im2col_and_col2im_match_torch_unfold_fold(h, w, c, k, s, d, padding, seed):
    assume(padding == "same" or (k - 1) * d + 1 <= min(h, w))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, h, w, c)).astype(np.float32)
    oh, pt, pb = tflite_pads(h, k, s, d, padding)
    ow, pl, pr = tflite_pads(w, k, s, d, padding)
    xp = F.pad(nchw(to_t(x)), (pl, pr, pt, pb))
    # unfold: (1, C*k*k, L) with rows ordered (c, kh, kw); ours: (P, k*k*C) ordered (kh, kw, c)
    u = F.unfold(xp, k, dilation=d, stride=s)[0].reshape(c, k, k, -1).permute(3, 1, 2, 0).reshape(oh * ow, -1)
    col = K.im2col(x, kernel=k, stride=s, dilation=d, padding=padding)
    np.testing.assert_array_equal(col, u.numpy().astype(np.float32))
    g = rng.standard_normal(col.shape).astype(np.float32)
    gt = to_t(g).reshape(oh * ow, k, k, c).permute(3, 1, 2, 0).reshape(1, c * k * k, oh * ow)
    folded = F.fold(gt, (h + pt + pb, w + pl + pr), k, dilation=d, stride=s)[:, :, pt:pt + h, pl:pl + w]
    close(K.col2im(g, x_shape=x.shape, kernel=k, stride=s, dilation=d, padding=padding), nhwc(folded).numpy(),
          nhwc(F.fold(gt.abs(), (h + pt + pb, w + pl + pr), k, dilation=d, stride=s)[:, :, pt:pt + h,
                                                                                 pl:pl + w]).numpy())


@settings(max_examples=40, **SETTINGS)
@given(conv_shapes)
def test_depthwise_conv2d_matches_torch_groups(c):
    assume(_valid(c))
    rng = np.random.default_rng(c["seed"])
    C = c["cin"]
    x = rng.standard_normal((c["n"], c["h"], c["w"], C)).astype(np.float32)
    w = rng.standard_normal((1, c["kh"], c["kw"], C)).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32) if c["bias"] else None
    kw = dict(stride=c["stride"], dilation=c["dilation"], padding=c["padding"])
    y = K.depthwise_conv2d_forward(x, w, b, **kw)
    xt, wt = to_t(x, True), to_t(w, True)
    bt = to_t(b, True) if b is not None else None
    yt = torch_conv(xt, wt, bt, c["stride"], c["dilation"], c["padding"], groups=C)
    dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(to_t(dy))
    xa, wa = to_t(np.abs(x), True), to_t(np.abs(w), True)
    ya = torch_conv(xa, wa, to_t(np.abs(b)) if b is not None else None, c["stride"], c["dilation"], c["padding"],
                    groups=C)
    ya.backward(to_t(np.abs(dy)))
    close(y, yt.detach().numpy(), ya.detach().numpy(), what="dw forward")
    dw, db = K.depthwise_conv2d_weight_grad(x, dy, kernel=(c["kh"], c["kw"]), bias=c["bias"], **kw)
    close(dw, wt.grad.numpy(), wa.grad.numpy(), what="dw weight grad")
    if c["bias"]:
        close(db, bt.grad.numpy(), np.abs(dy).sum(axis=(0, 1, 2)), what="dw bias grad")
    dx = K.depthwise_conv2d_input_grad(dy, w, x_shape=x.shape, **kw)
    close(dx, xt.grad.numpy(), xa.grad.numpy(), what="dw input grad")


@settings(max_examples=30, **SETTINGS)
@given(
    n=st.integers(1, 3), h=st.integers(1, 6), w=st.integers(1, 6), cin=st.integers(1, 40), cout=st.integers(1, 40),
    path=st.sampled_from(["reference", "host"]), seed=st.integers(0, 2**31 - 1),
)
def test_pointwise_and_fully_connected_match_torch(n, h, w, cin, cout, path, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, cin)).astype(np.float32)
    wt_ = rng.standard_normal((cout, 1, 1, cin)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    xt, wt, bt = to_t(x, True), to_t(wt_, True), to_t(b, True)
    yt = torch_conv(xt, wt, bt, 1, 1, "valid")
    dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(to_t(dy))
    xa, wa = to_t(np.abs(x), True), to_t(np.abs(wt_), True)
    ya = torch_conv(xa, wa, to_t(np.abs(b)), 1, 1, "valid")
    ya.backward(to_t(np.abs(dy)))
    close(K.pointwise_conv2d_forward(x, wt_, b, path=path), yt.detach().numpy(), ya.detach().numpy())
    dw, db = K.pointwise_conv2d_weight_grad(x, dy, path=path)
    close(dw, wt.grad.numpy(), wa.grad.numpy())
    close(db, bt.grad.numpy(), np.abs(dy).sum(axis=(0, 1, 2)))
    close(K.pointwise_conv2d_input_grad(dy, wt_, path=path), xt.grad.numpy(), xa.grad.numpy())
    # 2-D weights are accepted too
    close(K.pointwise_conv2d_forward(x, wt_.reshape(cout, cin), b, path=path), yt.detach().numpy(),
          ya.detach().numpy())

    # fully connected: batch = n*h*w rows of x
    X = x.reshape(-1, cin)
    W = wt_.reshape(cout, cin)
    Xt, Wt, Bt = to_t(X, True), to_t(W, True), to_t(b, True)
    Yt = F.linear(Xt, Wt, Bt)
    dY = dy.reshape(-1, cout)
    Yt.backward(to_t(dY))
    Xa, Wa = to_t(np.abs(X), True), to_t(np.abs(W), True)
    Ya = F.linear(Xa, Wa, to_t(np.abs(b)))
    Ya.backward(to_t(np.abs(dY)))
    close(K.fully_connected_forward(X, W, b, path=path), Yt.detach().numpy(), Ya.detach().numpy())
    dW, dB = K.fully_connected_weight_grad(X, dY, path=path)
    close(dW, Wt.grad.numpy(), Wa.grad.numpy())
    close(dB, Bt.grad.numpy(), np.abs(dY).sum(0))
    close(K.fully_connected_input_grad(dY, W, path=path), Xt.grad.numpy(), Xa.grad.numpy())
    assert K.fully_connected_weight_grad(X, dY, bias=False, path=path)[1] is None


def _act_values(rng, n):
    v = (rng.standard_normal(n) * 5).astype(np.float32)
    v[rng.random(n) < 0.15] = 0.0  # exact boundaries
    v[rng.random(n) < 0.1] = 6.0
    return v


@settings(max_examples=30, **SETTINGS)
@given(n=st.integers(1, 100), seed=st.integers(0, 2**31 - 1))
def test_relu_relu6_and_mask_variant(n, seed):
    rng = np.random.default_rng(seed)
    x = _act_values(rng, n)
    dy = rng.standard_normal(n).astype(np.float32)
    for fwd, bwd, fwd_mask, tfn in (
        (K.relu_forward, K.relu_backward, K.relu_forward_mask, F.relu),
        (K.relu6_forward, K.relu6_backward, K.relu6_forward_mask, F.relu6),
    ):
        xt = to_t(x, True)
        yt = tfn(xt)
        yt.backward(to_t(dy))
        y = fwd(x)
        np.testing.assert_array_equal(y, yt.detach().numpy().astype(np.float32))
        dx = bwd(y, dy)
        ym, mask = fwd_mask(x)
        np.testing.assert_array_equal(ym, y)
        assert mask.dtype == np.uint8 and mask.shape == ((n + 7) // 8,)
        # the mask is the derivative, packed LSB first
        bits = np.unpackbits(mask, bitorder="little")[:n].astype(bool)
        np.testing.assert_array_equal(bits, xt.grad.numpy() != 0)  # dy has no zeros
        assert not np.any(np.unpackbits(mask, bitorder="little")[n:])  # padding bits clear
        dxm = K.relu_mask_backward(mask, dy)
        np.testing.assert_array_equal(dxm, dx)  # mask variant == plain backward
        # torch's derivative at the kinks: relu'(0) = 0, relu6'(0) = relu6'(6) = 0
        ref = xt.grad.numpy().astype(np.float32)
        np.testing.assert_array_equal(dx, ref)


def torch_pool(x, k, s, padding, kind):
    _, pt, pb = tflite_pads(x.shape[1], k, s, 1, padding)
    _, pl, pr = tflite_pads(x.shape[2], k, s, 1, padding)
    if kind == "max":
        xp = F.pad(nchw(x), (pl, pr, pt, pb), value=-np.inf)
        return nhwc(F.max_pool2d(xp, k, s))
    xp = F.pad(nchw(x), (pl, pr, pt, pb))
    ones = F.pad(torch.ones_like(nchw(x)), (pl, pr, pt, pb))
    return nhwc(F.avg_pool2d(xp, k, s) / F.avg_pool2d(ones, k, s))  # TFLite: divide by in-bounds count


@settings(max_examples=40, **SETTINGS)
@given(
    n=st.integers(1, 2), h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 4), k=st.integers(1, 4),
    s=st.integers(1, 3), padding=st.sampled_from(["same", "valid"]), seed=st.integers(0, 2**31 - 1),
)
def test_pools_match_torch(n, h, w, c, k, s, padding, seed):
    assume(padding == "same" or k <= min(h, w))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    for kind in ("avg", "max"):
        xt = to_t(x, True)
        yt = torch_pool(xt, k, s, padding, kind)
        dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
        yt.backward(to_t(dy))
        if kind == "avg":
            y = K.avg_pool2d_forward(x, pool=k, stride=s, padding=padding)
            close(y, yt.detach().numpy(), torch_pool(to_t(np.abs(x)), k, s, padding, "avg").numpy(), what="avg")
            dx = K.avg_pool2d_backward(dy, x_shape=x.shape, pool=k, stride=s, padding=padding)
            xa = to_t(np.abs(x), True)
            torch_pool(xa, k, s, padding, "avg").backward(to_t(np.abs(dy)))
            close(dx, xt.grad.numpy(), xa.grad.numpy(), what="avg backward")
        else:
            y = K.max_pool2d_forward(x, pool=k, stride=s, padding=padding)
            np.testing.assert_array_equal(y, yt.detach().numpy().astype(np.float32))
            dx = K.max_pool2d_backward(x, dy, pool=k, stride=s, padding=padding)
            close(dx, xt.grad.numpy(), np.abs(xt.grad.numpy()) + 1e-30, rtol=1e-6, what="max backward")
    xt = to_t(x, True)
    yt = xt.mean(dim=(1, 2))
    dy = rng.standard_normal((n, c)).astype(np.float32)
    yt.backward(to_t(dy))
    close(K.global_avg_pool_forward(x), yt.detach().numpy(), np.abs(x).mean(axis=(1, 2)))
    close(K.global_avg_pool_backward(dy, x_shape=x.shape), xt.grad.numpy(), np.abs(xt.grad.numpy()))


def test_add_forward_backward():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3, 4, 5)).astype(np.float32), rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(K.add_forward(a, b), a + b)
    dy = rng.standard_normal(a.shape).astype(np.float32)
    da, db = K.add_backward(dy)
    np.testing.assert_array_equal(da, dy)
    np.testing.assert_array_equal(db, dy)


@settings(max_examples=40, **SETTINGS)
@given(n=st.integers(1, 50), scale=st.sampled_from([0.1, 1.0, 30.0, 300.0]), seed=st.integers(0, 2**31 - 1))
def test_softmax_cross_entropy_matches_torch(n, scale, seed):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(n) * scale).astype(np.float32)
    label = int(rng.integers(0, n))
    zt = to_t(z, True)
    lt = F.cross_entropy(zt[None], torch.tensor([label]))
    lt.backward()
    loss, dz = K.softmax_cross_entropy(z, label)
    assert np.isfinite(loss) and np.all(np.isfinite(dz))  # log-sum-exp: no overflow even at scale 300
    assert abs(loss - lt.item()) <= 1e-5 * max(1.0, abs(lt.item())) + 1e-6 * scale
    np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("momentum,wd", [(0.0, 0.0), (0.9, 0.0), (0.9, 5e-4), (0.5, 0.1)])
def test_sgd_matches_torch_optim_over_steps(momentum, wd):
    rng = np.random.default_rng(11)
    w = rng.standard_normal(37).astype(np.float32)
    buf = np.zeros_like(w) if momentum else None
    p = torch.nn.Parameter(torch.tensor(w.copy()))
    opt = torch.optim.SGD([p], lr=0.05, momentum=momentum, weight_decay=wd)
    for step in range(6):
        g = rng.standard_normal(37).astype(np.float32)
        p.grad = torch.tensor(g)
        opt.step()
        K.sgd_update(w, g, buf, lr=0.05, momentum=momentum, weight_decay=wd)
        np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=f"step {step}")
        if momentum:
            np.testing.assert_allclose(buf, opt.state[p]["momentum_buffer"].numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------ host path vs reference

@settings(max_examples=40, **SETTINGS)
@given(
    m=st.integers(1, 110), n=st.integers(1, 40), k=st.sampled_from([1, 2, 7, 33, 255, 256, 257, 300]),
    layout=st.sampled_from([0, 1, 2]), accumulate=st.booleans(), seed=st.integers(0, 2**31 - 1),
)
def test_matmul_f32_host_equals_reference(m, n, k, layout, accumulate, seed):
    """The host path does the reference's FP32 operations in the same order: results are bit-identical."""
    ffi, lib = get_lib()
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m) if layout == 2 else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if layout == 0 else (k, n)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    fp = lambda arr: ffi.cast("float *", ffi.from_buffer(arr))  # noqa: E731
    out = {}
    for path in ("reference", "host"):
        c = c0.copy()
        with use_path(path):
            assert lib.odl_matmul_f32(layout, fp(a), fp(b), fp(c), m, n, k, int(accumulate)) == 0
        out[path] = c
    np.testing.assert_array_equal(out["host"], out["reference"])
    A = a.T if layout == 2 else a
    B = b.T if layout == 0 else b
    ref = A.astype(np.float64) @ B.astype(np.float64) + (c0 if accumulate else 0)
    close(out["host"], ref, np.abs(A) @ np.abs(B) + (np.abs(c0) if accumulate else 0))


def test_conv2d_host_path_equals_reference_path():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 12, 11, 8)).astype(np.float32)
    w = rng.standard_normal((16, 3, 3, 8)).astype(np.float32)
    dy = rng.standard_normal((1, 6, 6, 16)).astype(np.float32)
    kw = dict(stride=2, padding="same", scratch_rows=7)
    for fn, args in ((K.conv2d_forward, (x, w)), (K.conv2d_input_grad, (dy, w))):
        extra = {"x_shape": x.shape} if fn is K.conv2d_input_grad else {}
        np.testing.assert_array_equal(fn(*args, path="host", **kw, **extra), fn(*args, path="reference", **kw, **extra))
    np.testing.assert_array_equal(K.conv2d_weight_grad(x, dy, kernel=3, path="host", **kw)[0],
                                  K.conv2d_weight_grad(x, dy, kernel=3, path="reference", **kw)[0])


# ------------------------------------------------------------------------------------ bad arguments

def test_c_kernels_reject_bad_arguments():
    ffi, lib = get_lib()
    p = ffi.new("odl_conv_f_params *")
    d = getattr(p, "in")
    d.n, d.h, d.w, d.c = 1, 5, 5, 2
    p.out_c = 3
    assert lib.odl_conv_geometry(5, 5, 3, 3, 1, 1, 1, 1, 0, ffi.addressof(p, "win")) == 0
    x = np.zeros(50, np.float32)
    w = np.zeros(3 * 9 * 2, np.float32)
    y = np.zeros(3 * 9, np.float32)
    fp = lambda arr: ffi.cast("float *", ffi.from_buffer(arr))  # noqa: E731
    need = lib.odl_conv2d_f32_forward_scratch_size(p)
    assert need == min(9, 32) * 18 * 4
    s = np.zeros(need, np.uint8)
    sp = ffi.from_buffer(s)
    assert lib.odl_conv2d_f32_forward(p, fp(x), fp(w), ffi.NULL, fp(y), sp, need) == 0
    assert lib.odl_conv2d_f32_forward(p, ffi.NULL, fp(w), ffi.NULL, fp(y), sp, need) == -1  # ODL_ERR_ARG
    assert lib.odl_conv2d_f32_forward(p, fp(x), fp(w), ffi.NULL, fp(y), sp, 18 * 4 - 1) == -3  # < one row
    assert lib.odl_conv2d_f32_forward(p, fp(x), fp(w), ffi.NULL, fp(y), ffi.NULL, 0) == -3
    assert lib.odl_conv2d_f32_forward(p, fp(x), fp(w), ffi.NULL, fp(y), sp, 18 * 4) == 0  # one row is enough
    assert lib.odl_depthwise_conv2d_f32_forward(p, fp(x), fp(w), ffi.NULL, fp(y)) == -4  # multiplier != 1
    p.win.out_h = 9  # window inconsistent with the input
    assert lib.odl_conv2d_f32_forward(p, fp(x), fp(w), ffi.NULL, fp(y), sp, need) == -2
    win = ffi.new("odl_window *")
    assert lib.odl_conv_geometry(5, 5, 2, 2, 1, 1, 2, 2, 0, win) == 0
    assert lib.odl_max_pool2d_f32_forward(ffi.addressof(p, "in"), win, fp(x), fp(y)) == -4  # dilated pool
    loss = ffi.new("float *")
    assert lib.odl_softmax_cross_entropy_f32(fp(x), 5, 5, loss, ffi.NULL) == -1
    assert lib.odl_sgd_f32_update(fp(x), fp(x), ffi.NULL, 5, 0.1, 0.9, 0.0) == -1  # momentum needs buf
    assert lib.odl_matmul_f32(7, fp(x), fp(x), fp(y), 1, 1, 1, 0) == -1


def test_python_wrappers_raise_clear_errors():
    x = np.zeros((1, 5, 5, 2), np.float32)
    w = np.zeros((3, 3, 3, 2), np.float32)
    with pytest.raises(DTypeError):
        K.conv2d_forward(x.astype(np.float64), w)
    with pytest.raises(DTypeError):
        K.conv2d_forward(x, w.astype(np.float16))
    with pytest.raises(ShapeError):
        K.conv2d_forward(x, np.zeros((3, 3, 3, 4), np.float32))
    with pytest.raises(ShapeError):
        K.conv2d_forward(np.zeros((1, 2, 2, 2), np.float32), w)  # VALID window larger than the input
    with pytest.raises(ShapeError):
        K.conv2d_weight_grad(x, np.zeros((1, 2, 2, 3), np.float32), kernel=3)  # dy not the output shape
    with pytest.raises(OdlError):
        K.conv2d_forward(x, w, padding="full")
    with pytest.raises(OdlError):
        K.conv2d_forward(x, w, stride=0)
    with pytest.raises(ShapeError):
        K.depthwise_conv2d_forward(x, np.zeros((2, 3, 3, 2), np.float32))
    with pytest.raises(ShapeError):
        K.fully_connected_forward(np.zeros((2, 4), np.float32), np.zeros((3, 5), np.float32))
    with pytest.raises(ShapeError):
        K.relu_mask_backward(np.zeros(1, np.uint8), np.zeros(9, np.float32))
    with pytest.raises(OdlError):
        K.softmax_cross_entropy(np.zeros(4, np.float32), 4)
    with pytest.raises(ShapeError):
        K.sgd_update(np.zeros(8, np.float32)[::2], np.zeros(4, np.float32), lr=0.1)  # not updatable in place
    with pytest.raises(OdlError):
        K.sgd_update(np.zeros(4, np.float32), np.zeros(4, np.float32), None, lr=0.1, momentum=0.9)
    with pytest.raises(OdlError):
        K.conv2d_forward(x, w, path="gpu")
    assert not issubclass(KernelError, ShapeError)
