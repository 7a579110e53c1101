"""Round-to-nearest int8 training: the update step is exactly round_half_away(master step), and the reason why
nearest rounding collapses the digits example (see the module docstring of the second test).

Diagnosis (digits example, int8 last-layer / sparse, QAS, lr 0.001): one step of ``rounding = "nearest"`` from any
state equals clamp(round_half_away(master step)) bit for bit, so there is no arithmetic bug in the kernels or in the
lowering. The collapse comes from the rounding itself: the softmax cross-entropy gradient of one sample is one large
negative component (p_y - 1, the true class) and small positive ones (p_j). With post-ReLU inputs (x_q - zp >= 0)
nearest rounding keeps the true-class push (upwards) and drops most of the small downward pushes of the other
classes, so every weight row drifts upwards, the int8 logits climb to 127, all classes tie (loss ln 10) and no
surviving update can bring them down again.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.host import train_s8 as T


def round_half_away(v):
    return np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), lr=st.sampled_from([1e-4, 1e-3, 1e-2]),
       momentum=st.sampled_from([0.0, 0.9]), wd=st.sampled_from([0.0, 1e-3]))
def test_nearest_step_equals_rounded_master_step(seed, lr, momentum, wd):
    rng = np.random.default_rng(seed)
    out_c, k = 6, 20
    w = rng.integers(-127, 128, (out_c, k)).astype(np.int8)
    ws = rng.uniform(0.002, 0.02, out_c).astype(np.float32)
    g = (rng.standard_normal((out_c, k)) * rng.uniform(1e-6, 1e-3)).astype(np.float32)
    buf0 = (rng.standard_normal((out_c, k)) * 10).astype(np.float32) if momentum else None

    wn, wm = w.copy(), w.copy()
    master = w.astype(np.float32).copy()
    bn = None if buf0 is None else buf0.copy()
    bm = None if buf0 is None else buf0.copy()
    T.sgd_qas_update_s8(wn, ws, g, lr=lr, momentum=momentum, weight_decay=wd, rounding="nearest", momentum_buf=bn)
    T.sgd_qas_update_s8(wm, ws, g, lr=lr, momentum=momentum, weight_decay=wd, rounding="master", momentum_buf=bm,
                        master=master)
    # independent numpy float32 replay of the QAS step
    inv = (np.float32(1) / (ws * ws)).astype(np.float32)[:, None]
    gg = (g * inv + np.float32(wd) * w.astype(np.float32)).astype(np.float32)
    if momentum:
        gg = (np.float32(momentum) * buf0 + gg).astype(np.float32)
    ref_master = np.clip(w.astype(np.float32) - np.float32(lr) * gg, -127, 127).astype(np.float32)
    np.testing.assert_array_equal(master, ref_master)
    expected = np.clip(round_half_away(ref_master), -127, 127).astype(np.int8)
    np.testing.assert_array_equal(wm, expected)
    np.testing.assert_array_equal(wn, expected)   # nearest == round_half_away(master), per element
    if momentum:
        np.testing.assert_array_equal(bn, bm)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_nearest_bias_step_equals_rounded_master_step(seed):
    rng = np.random.default_rng(seed)
    out_c = 10
    b = rng.integers(-5000, 5000, out_c).astype(np.int32)
    ws = rng.uniform(0.002, 0.02, out_c).astype(np.float32)
    sx = np.float32(rng.uniform(0.01, 0.1))
    g = (rng.standard_normal(out_c) * 1e-4).astype(np.float32)
    bn, bm = b.copy(), b.copy()
    master = b.astype(np.float32)
    T.sgd_qas_update_bias_s32(bn, ws, float(sx), g, lr=1e-3, rounding="nearest")
    T.sgd_qas_update_bias_s32(bm, ws, float(sx), g, lr=1e-3, rounding="master", master=master)
    sb = (ws * sx).astype(np.float32)
    ref = (b.astype(np.float32) - np.float32(1e-3) * (g * (np.float32(1) / (sb * sb)))).astype(np.float32)
    np.testing.assert_array_equal(master, ref)
    np.testing.assert_array_equal(bn, round_half_away(ref).astype(np.int32))
    np.testing.assert_array_equal(bm, bn)


def test_nearest_rounding_drifts_weights_up_under_softmax_gradient():
    """The collapse mechanism, on a last layer fed post-ReLU activations (x_q - zp >= 0) with the softmax
    cross-entropy gradient computed in numpy: the master copy's integer weights stay centred (the gradient of each
    sample sums to zero over classes and all channels share one scale), nearest rounding pushes them up steadily."""
    rng = np.random.default_rng(0)
    out_c, k, zp, sx, s_w, lr = 10, 32, -128, 0.033, 0.005, 1e-3
    w0 = rng.integers(-60, 61, (out_c, k)).astype(np.int8)
    ws = np.full(out_c, s_w, np.float32)
    wn, wm, master = w0.copy(), w0.copy(), w0.astype(np.float32)
    for _ in range(300):
        xq = rng.integers(-128, 128, k)
        xq = np.where(rng.random(k) < 0.5, zp, xq)                       # ReLU: about half the inputs are zero
        y = int(rng.integers(out_c))
        for w, mode in ((wn, "nearest"), (wm, "master")):
            cur = master if mode == "master" else w.astype(np.float32)
            logits = (cur * s_w) @ ((xq - zp) * sx)
            p = np.exp(logits - logits.max())
            p /= p.sum()
            dy = p - np.eye(out_c)[y]
            g = (s_w * sx * dy[:, None] * (xq - zp)[None, :]).astype(np.float32)   # dL/dW_q
            T.sgd_qas_update_s8(w, ws, g, lr=lr, rounding=mode, master=master if mode == "master" else None)
    drift_n = int(wn.astype(np.int64).sum() - w0.astype(np.int64).sum())
    drift_m = float(master.sum() - w0.astype(np.float64).sum())
    assert abs(drift_m) < 0.01 * out_c * k            # zero-sum gradient: no net drift with exact accumulation
    assert drift_n > 0.5 * out_c * k                   # nearest: every surviving step of the true class is upward
