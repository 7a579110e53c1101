"""int8 post-training quantization and the int8 interpreter.

- accuracy: on scikit-learn's digits, the int8 graph agrees with the float model's argmax and its dequantized logits
  are within a few output quantization steps;
- the quantization parameters equal TFLite's converter formulas, written out again here;
- run_int8 equals odl's C kernels (toolkit.host.kernels_s8) node by node, bit for bit;
- run_int8 equals TFLite Micro running the same int8 graph written as a .tflite, every tensor bit for bit.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits

from toolkit.errors import DTypeError, OdlError, ShapeError
from toolkit.frontends import from_torch
from toolkit.host import kernels_s8 as k8
from toolkit.ir import Graph
from toolkit.ir.interp import run_float, run_int8
from toolkit.quant import params as qparams
from toolkit.quant.ptq import dequantize_output, quantize, quantize_input

torch.set_num_threads(1)


class DwBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.pw = nn.Conv2d(c, c, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.pw(nn.functional.relu6(self.bn1(self.dw(x))))))


class DigitsNet(nn.Module):
    """8x8 digits: conv+BN+ReLU, depthwise-separable residual block, max pool, stride-2 pad-1 conv (padding that
    is not TFLite SAME), global average pool, linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = DwBlock(8)
        self.pool = nn.MaxPool2d(2)
        self.down = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.down(self.pool(self.block(self.stem(x))))
        return self.fc(torch.flatten(self.gap(x), 1))


class FlatNet(nn.Module):
    """avg pool, flatten of a 4x4 map (permuted linear weights), fc + relu6, fc; depthwise multiplier 2."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.dw = nn.Conv2d(4, 8, 3, padding=1, groups=4)
        self.pool = nn.AvgPool2d(2)
        self.fc1 = nn.Linear(8 * 4 * 4, 24)
        self.fc2 = nn.Linear(24, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.dw(torch.relu(self.c1(x)))))
        return self.fc2(nn.functional.relu6(self.fc1(torch.flatten(x, 1))))


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # NCHW, [0, 1]
    return x, d.target.astype(np.int64)


@pytest.fixture(scope="module")
def trained(digits):
    x, y = digits
    torch.manual_seed(0)
    model = DigitsNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x[:1200]), torch.from_numpy(y[:1200])
    model.train()
    for _ in range(12):
        perm = torch.randperm(1200)
        for i in range(0, 1200, 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()
    g = from_torch(model, (1, 1, 8, 8), name="digits")
    gq = quantize(g, x[:300])
    return model, g, gq


def test_int8_agrees_with_float_on_digits(digits, trained):
    x, y = digits
    model, g, gq = trained
    xs, ys = x[1200:], y[1200:]
    with torch.no_grad():
        ref = model(torch.from_numpy(xs)).numpy()
    env = run_int8(gq, quantize_input(gq, xs))
    logits_q = env[gq.outputs[0]]
    assert logits_q.dtype == np.int8 and logits_q.shape == (len(xs), 10)
    deq = dequantize_output(gq, logits_q)
    acc_f = (ref.argmax(1) == ys).mean()
    acc_q = (deq.argmax(1) == ys).mean()
    agree = (deq.argmax(1) == ref.argmax(1)).mean()
    assert acc_f > 0.85, acc_f
    assert agree >= 0.95 and acc_q >= acc_f - 0.03, (agree, acc_q, acc_f)
    step = gq.tensor(gq.outputs[0]).quant.scale[0]
    err = np.abs(deq - ref) / step
    assert np.median(err) <= 2.0 and np.percentile(err, 99) <= 8.0, (np.median(err), np.percentile(err, 99))
    # every intermediate is returned, as int8 with the tensor's IR shape
    for n in gq.nodes:
        t = gq.tensor(n.outputs[0])
        assert env[t.name].dtype == np.int8 and env[t.name].shape[1:] == t.shape[1:]


def test_graph_is_int8_and_json_round_trips(trained):
    _, g, gq = trained
    assert gq.meta["precision"] == "int8" and g.meta["precision"] == "fp32"  # the fp32 graph is untouched
    for t in gq.tensors.values():
        if t.kind == "param":
            assert t.dtype in ("int8", "int32") and t.quant is not None
        else:
            assert t.dtype == "int8" and len(t.quant.scale) == 1
    g2 = Graph.from_json(gq.to_json())
    assert g2.to_json() == gq.to_json()
    xq = np.random.default_rng(0).integers(-128, 128, (4, 8, 8, 1)).astype(np.int8)
    np.testing.assert_array_equal(run_int8(g2, xq)[g2.outputs[0]], run_int8(gq, xq)[gq.outputs[0]])


# ---- TFLite's converter formulas, written out again ---------------------------------------------------------------
def std_round(v: float) -> int:
    """std::round: halves away from zero."""
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def f32(v) -> float:
    return float(np.float32(v))


def tflite_activation_params(lo: float, hi: float) -> tuple[float, int]:
    """GetAsymmetricQuantizationParams(min, max, -128, 127) with float32 arithmetic step by step."""
    lo, hi = min(f32(lo), 0.0), max(f32(hi), 0.0)
    scale = f32(f32(hi - lo) / 255.0)
    zp_from_min = f32(-128.0 - f32(lo / scale))
    zp = -128 if zp_from_min < -128 else 127 if zp_from_min > 127 else std_round(zp_from_min)
    return scale, zp


def test_quantization_parameters_follow_tflite_formulas(digits, trained):
    x, _ = digits
    _, g, gq = trained
    env = run_float(g, x[:300].transpose(0, 2, 3, 1))  # the calibration pass (run_float is checked against torch)
    rng = {k: (float(v.min()), float(v.max())) for k, v in env.items()}
    # the recorded calibration ranges are the float model's (up to summation order: PTQ calibrates in batches)
    assert set(gq.meta["calibration"]) == {k for k in rng if g.tensor(k).kind != "param"}
    for k, (lo, hi) in gq.meta["calibration"].items():
        assert lo == pytest.approx(rng[k][0], rel=1e-5, abs=1e-6) and hi == pytest.approx(rng[k][1], rel=1e-5)
    rng = gq.meta["calibration"]
    s, z = tflite_activation_params(*rng[g.inputs[0]])
    assert gq.tensor(g.inputs[0]).quant.scale == [s] and gq.tensor(g.inputs[0]).quant.zero_point == [z]
    for n in g.nodes:
        out, q = n.outputs[0], gq.tensor(n.outputs[0]).quant
        if n.op in ("max_pool2d", "avg_pool2d", "reshape"):
            assert q == gq.tensor(n.inputs[0]).quant, n.name  # TFLite requires equal quantization
        else:
            assert (q.scale, q.zero_point) == ([tflite_activation_params(*rng[out])[0]],
                                               [tflite_activation_params(*rng[out])[1]]), n.name
        if n.op not in ("conv2d", "depthwise_conv2d", "fully_connected"):
            continue
        w, b = g.tensor(n.inputs[1]).data, g.tensor(n.inputs[2]).data
        wq, bq = gq.tensor(n.inputs[1]), gq.tensor(n.inputs[2])
        axis = 3 if n.op == "depthwise_conv2d" else 0
        assert wq.quant.axis == axis and set(wq.quant.zero_point) == {0}
        wc = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
        wqc = np.moveaxis(wq.data, axis, 0).reshape(w.shape[axis], -1)
        s_in = gq.tensor(n.inputs[0]).quant.scale[0]
        for c in range(wc.shape[0]):
            half = max(abs(f32(wc[c].min())), abs(f32(wc[c].max())))
            assert wq.quant.scale[c] == f32(half / 127.0)
            inv = f32(127.0 / half)
            want = [max(-127, min(127, std_round(f32(f32(v) * inv)))) for v in wc[c]]
            assert wqc[c].tolist() == want
            bs = f32(f32(s_in) * f32(wq.quant.scale[c]))
            assert bq.quant.scale[c] == bs and bq.quant.zero_point[c] == 0
            assert int(bq.data[c]) == std_round(f32(f32(b[c]) * f32(1.0 / bs)))
        # and the quantized values represent the float ones
        assert np.all(np.abs(wqc * np.array(wq.quant.scale)[:, None] - wc) <= np.array(wq.quant.scale)[:, None] / 2
                      + 1e-7)


def test_per_tensor_weights(digits):
    x, _ = digits
    torch.manual_seed(3)
    g = from_torch(FlatNet(), (1, 1, 8, 8))
    gq = quantize(g, x[:50], per_channel=False)
    for n in gq.nodes:
        if n.op in ("conv2d", "depthwise_conv2d", "fully_connected"):
            w = gq.tensor(n.inputs[1])
            assert len(w.quant.scale) == 1 and w.quant.axis is None
            assert w.quant.scale[0] == f32(np.abs(g.tensor(n.inputs[1]).data).max() / np.float32(127))
    run_int8(gq, quantize_input(gq, x[:5]))


def test_quantize_input_and_dequantize_output(digits, trained):
    x, _ = digits
    _, _, gq = trained
    q = gq.tensor(gq.inputs[0]).quant
    xs = np.concatenate([x[:3], -x[:1] * 3, x[:1] * 50])
    got = quantize_input(gq, xs)
    want = np.array([max(-128, min(127, std_round(f32(np.float32(v) / np.float32(q.scale[0]))) + q.zero_point[0]))
                     for v in xs.transpose(0, 2, 3, 1).ravel()]).reshape(got.shape)
    assert got.dtype == np.int8 and got.shape == (5, 8, 8, 1)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(quantize_input(gq, x[0]), got[:1])  # one sample without N
    qo = gq.tensor(gq.outputs[0]).quant
    v = np.arange(-128, 128, dtype=np.int8)[None]
    np.testing.assert_allclose(dequantize_output(gq, v), (v.astype(np.float64) - qo.zero_point[0]) * qo.scale[0],
                               rtol=1e-6)
    with pytest.raises(ShapeError):
        quantize_input(gq, np.zeros((2, 8, 8, 1), np.float32))  # NHWC given to an NCHW model
    with pytest.raises(DTypeError):
        dequantize_output(gq, np.zeros((1, 10), np.int32))
    with pytest.raises(OdlError, match="already int8"):
        quantize(gq, x[:10])
    with pytest.raises(OdlError, match="no quantization"):
        run_int8(trained[1], np.zeros((1, 8, 8, 1), np.int8))


# ---- odl's C kernels, node by node ---------------------------------------------------------------------------------
def fused_range(act: str, scale: float, zp: int) -> tuple[int, int]:
    def q(f):
        return zp + std_round(f32(np.float32(f) / np.float32(scale)))

    return {"none": (-128, 127), "relu": (max(-128, q(0.0)), 127),
            "relu6": (max(-128, q(0.0)), min(127, q(6.0)))}[act]


def tflite_padding(n, in_shape):
    """'VALID' / 'SAME' when the IR's explicit pad is one of them, else None (pad explicitly, then VALID)."""
    pt, pb, pl, pr = n.attrs["pad"]
    if (pt, pb, pl, pr) == (0, 0, 0, 0):
        return "VALID"
    (kh, kw), (sh, sw) = n.attrs["kernel"], n.attrs["stride"]
    dh, dw = n.attrs.get("dilation", (1, 1))
    same = []
    for size, k, s, d, p0, p1 in ((in_shape[1], kh, sh, dh, pt, pb), (in_shape[2], kw, sw, dw, pl, pr)):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        same.append(p0 == total // 2 and (size + p0 + p1 - (k - 1) * d - 1) // s + 1 == out)
    return "SAME" if all(same) else None


def c_kernel_node(gq, n, ins, single_rounding):
    q = {t: gq.tensor(t).quant for t in n.inputs + n.outputs}
    qi, qo = q[n.inputs[0]], q[n.outputs[0]]
    zi, zo = qi.zero_point[0], qo.zero_point[0]
    a = n.attrs
    if n.op in ("conv2d", "depthwise_conv2d", "fully_connected"):
        m, s = qparams.conv_requant_params(qi.scale[0], q[n.inputs[1]].scale, qo.scale[0], single_rounding)
        lo, hi = fused_range(a["activation"], qo.scale[0], zo)
        kw = dict(input_zp=zi, output_zp=zo, multiplier=m, shift=s, act_min=lo, act_max=hi,
                  single_rounding=single_rounding)
        if n.op == "fully_connected":
            return k8.fully_connected_s8(ins[0], ins[1], ins[2], **kw)
        x, pad = ins[0], tflite_padding(n, ins[0].shape)
        if pad is None:
            pt, pb, pl, pr = a["pad"]
            x, pad = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=zi), "VALID"
        if n.op == "depthwise_conv2d":
            return k8.depthwise_conv2d_s8(x, ins[1], ins[2], depth_multiplier=a["depth_multiplier"], stride=a["stride"],
                                          dilation=a["dilation"], padding=pad, **kw)
        if a["kernel"] == (1, 1) and a["stride"] == (1, 1) and pad == "VALID":
            pw = k8.pointwise_conv2d_s8(x, ins[1], ins[2], **kw)
            np.testing.assert_array_equal(pw, k8.conv2d_s8(x, ins[1], ins[2], padding=pad, **kw))
            return pw
        return k8.conv2d_s8(x, ins[1], ins[2], stride=a["stride"], dilation=a["dilation"], padding=pad, **kw)
    if n.op == "add":
        qb = q[n.inputs[1]]
        lo, hi = fused_range(a["activation"], qo.scale[0], zo)
        return k8.add_s8(ins[0], ins[1], a_scale=qi.scale[0], a_zp=zi, b_scale=qb.scale[0], b_zp=qb.zero_point[0],
                         out_scale=qo.scale[0], out_zp=zo, act_min=lo, act_max=hi, single_rounding=single_rounding)
    if n.op in ("max_pool2d", "avg_pool2d"):
        fn = k8.max_pool_s8 if n.op == "max_pool2d" else k8.avg_pool_s8
        x, pad = ins[0], tflite_padding(n, ins[0].shape)
        if pad is None:  # max pool only: -128 never wins a max, so explicit padding equals ignoring the taps
            assert n.op == "max_pool2d"
            pt, pb, pl, pr = a["pad"]
            x, pad = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=-128), "VALID"
        return fn(x, pool=a["kernel"], stride=a["stride"], padding=pad, single_rounding=single_rounding)
    if n.op == "global_avg_pool":
        return k8.mean_s8(ins[0], in_scale=qi.scale[0], in_zp=zi, out_scale=qo.scale[0], out_zp=zo,
                          single_rounding=single_rounding)
    if n.op == "reshape":
        return ins[0].reshape((ins[0].shape[0],) + tuple(a["shape"][1:]))
    raise AssertionError(n.op)


@pytest.mark.parametrize("single_rounding", [False, True])
def test_run_int8_equals_c_kernels_node_by_node(digits, trained, single_rounding):
    x, _ = digits
    torch.manual_seed(5)
    graphs = [trained[2], quantize(from_torch(FlatNet(), (1, 1, 8, 8)), x[:100])]
    seen = set()
    for gq in graphs:
        env = run_int8(gq, quantize_input(gq, x[1500:1508]), single_rounding=single_rounding)
        for n in gq.nodes:
            ins = [env[i] for i in n.inputs]
            got = c_kernel_node(gq, n, ins, single_rounding)
            np.testing.assert_array_equal(env[n.outputs[0]], got, err_msg=f"node {n.name} ({n.op})")
            seen.add(n.op)
            if n.op == "conv2d" and tflite_padding(n, ins[0].shape) is None:
                seen.add("conv2d explicit pad")
    assert seen >= {"conv2d", "conv2d explicit pad", "depthwise_conv2d", "fully_connected", "add", "max_pool2d",
                    "avg_pool2d", "global_avg_pool", "reshape"}


@settings(max_examples=20, deadline=None)
@given(cin=st.integers(1, 3), cout=st.integers(1, 6), k=st.integers(1, 3), stride=st.integers(1, 2),
       pad=st.integers(0, 1), h=st.integers(4, 9), depthwise=st.booleans(), act=st.sampled_from(["", "relu", "relu6"]),
       pool=st.sampled_from([None, (2, 2, 0), (3, 2, 1), (3, 1, 1)]), seed=st.integers(0, 2**16))
def test_random_conv_pool_int8_equals_c_kernels(cin, cout, k, stride, pad, h, depthwise, act, pool, seed):
    """Random geometry, including explicit pads that are neither SAME nor VALID (conv and max pool)."""
    torch.manual_seed(seed)
    cout = cin * (1 + cout % 2) if depthwise else cout
    layers = [nn.Conv2d(cin, cout, k, stride=stride, padding=pad, groups=cin if depthwise else 1)]
    layers += {"": [], "relu": [nn.ReLU()], "relu6": [nn.ReLU6()]}[act]
    oh = (h + 2 * pad - k) // stride + 1
    if pool is not None and oh + 2 * pool[2] >= pool[0]:
        layers.append(nn.MaxPool2d(pool[0], stride=pool[1], padding=pool[2]))
    g = from_torch(nn.Sequential(*layers), (1, cin, h, h))
    calib = np.random.default_rng(seed).standard_normal((16, cin, h, h)).astype(np.float32)
    gq = quantize(g, calib)
    env = run_int8(gq, quantize_input(gq, calib[:3]))
    for n in gq.nodes:
        got = c_kernel_node(gq, n, [env[i] for i in n.inputs], False)
        np.testing.assert_array_equal(env[n.outputs[0]], got, err_msg=f"node {n.name} ({n.op})")


# ---- TFLite Micro on the whole graph -------------------------------------------------------------------------------
def to_tflite(gq: Graph) -> tuple[bytes, list[str]]:
    """Write the int8 IR as a .tflite (PAD + VALID where the IR's pad is not SAME/VALID), every tensor an output."""
    from toolkit.tflite.writer import ModelBuilder

    b = ModelBuilder()
    idx = {}

    def tensor(name):
        if name not in idx:
            t = gq.tensor(name)
            q = t.quant
            idx[name] = b.add_tensor(name, t.shape, np.dtype(t.dtype), data=t.data,
                                     scale=q.scale if len(q.scale) > 1 else q.scale[0],
                                     zero_point=q.zero_point if len(q.zero_point) > 1 else q.zero_point[0],
                                     quantized_dimension=q.axis or 0)
        return idx[name]

    tensor(gq.inputs[0])
    acts = [gq.inputs[0]]
    for n in gq.nodes:
        a = n.attrs
        ins = [tensor(i) for i in n.inputs]
        out = tensor(n.outputs[0])
        acts.append(n.outputs[0])
        act = str(a.get("activation", "none")).upper()
        if n.op in ("conv2d", "depthwise_conv2d", "max_pool2d", "avg_pool2d"):
            pad = tflite_padding(n, gq.tensor(n.inputs[0]).shape)
            if pad is None:
                src = gq.tensor(n.inputs[0])
                pt, pb, pl, pr = a["pad"]
                shape = (1, src.shape[1] + pt + pb, src.shape[2] + pl + pr, src.shape[3])
                padded = b.add_tensor(n.name + "/pad", shape, np.int8, scale=src.quant.scale[0],
                                      zero_point=src.quant.zero_point[0])
                pads = b.add_tensor(n.name + "/paddings", (4, 2), np.int32,
                                    data=np.array([[0, 0], [pt, pb], [pl, pr], [0, 0]], np.int32))
                b.add_operator("PAD", [ins[0], pads], [padded])
                ins[0], pad = padded, "VALID"
        if n.op == "conv2d":
            b.add_operator("CONV_2D", ins, [out], {"padding": pad, "stride": a["stride"], "dilation": a["dilation"],
                                                   "activation": act})
        elif n.op == "depthwise_conv2d":
            b.add_operator("DEPTHWISE_CONV_2D", ins, [out], {"padding": pad, "stride": a["stride"],
                                                             "dilation": a["dilation"], "activation": act,
                                                             "depth_multiplier": a["depth_multiplier"]})
        elif n.op == "fully_connected":
            b.add_operator("FULLY_CONNECTED", ins, [out], {"activation": act})
        elif n.op == "add":
            b.add_operator("ADD", ins, [out], {"activation": act})
        elif n.op in ("max_pool2d", "avg_pool2d"):
            b.add_operator("MAX_POOL_2D" if n.op == "max_pool2d" else "AVERAGE_POOL_2D", ins, [out],
                           {"padding": pad, "stride": a["stride"], "filter": a["kernel"]})
        elif n.op == "global_avg_pool":
            ax = b.add_tensor(n.name + "/axis", (2,), np.int32, data=np.array([1, 2], np.int32))
            b.add_operator("MEAN", [ins[0], ax], [out], {"keep_dims": True})
        elif n.op == "reshape":
            shp = b.add_tensor(n.name + "/shape", (len(a["shape"]),), np.int32, data=np.array(a["shape"], np.int32))
            b.add_operator("RESHAPE", [ins[0], shp], [out], {"new_shape": list(a["shape"])})
        else:
            raise AssertionError(n.op)
    outs = acts[1:]
    return b.finish(inputs=[idx[gq.inputs[0]]], outputs=[idx[o] for o in outs]), outs


def test_run_int8_equals_tflite_micro_every_tensor(digits, trained):
    from toolkit.tflite.reference import run_tflm

    x, _ = digits
    torch.manual_seed(5)
    for gq in (trained[2], quantize(from_torch(FlatNet(), (1, 1, 8, 8)), x[:100])):
        model, names = to_tflite(gq)
        xq = quantize_input(gq, x[1600:1604])
        env = run_int8(gq, xq)
        for i in range(xq.shape[0]):
            res = run_tflm(model, [xq[i:i + 1]], measure_arena=False)
            for name, got in zip(names, res.outputs):
                np.testing.assert_array_equal(env[name][i:i + 1], got.reshape(env[name][i:i + 1].shape),
                                              err_msg=f"tensor {name}")
