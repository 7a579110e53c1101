"""PyTorch frontend: the IR, run by the numpy float interpreter, computes what the torch module computes."""

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.cli import main as odl_main
from toolkit.errors import OdlError
from toolkit.frontends import from_torch, load, load_model
from toolkit.ir import Graph
from toolkit.ir.interp import run_float
from toolkit.ir.summary import summarize

torch.set_num_threads(1)


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.rand(c, generator=g) - 0.5)
    return model.eval()


class DwSeparable(nn.Module):
    """MobileNet-style block: depthwise 3x3 + BN + ReLU6, pointwise 1x1 + BN, residual add."""

    def __init__(self, c):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.act = nn.ReLU6()
        self.pw = nn.Conv2d(c, c, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        return x + self.bn2(self.pw(self.act(self.bn1(self.dw(x)))))


class NetA(nn.Module):
    """stride 2 with padding 1 (not TFLite SAME on an even size), BN, depthwise-separable residual block, max and
    avg pool, flatten of a 2x2 map + linear, dropout."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      DwSeparable(8), nn.MaxPool2d(2), nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(),
                                      nn.AvgPool2d(2))
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(12 * 2 * 2, 10)

    def forward(self, x):
        return self.fc(self.drop(torch.flatten(self.features(x), 1)))


class NetB(nn.Module):
    """No-bias conv + BN, padded max pool, depthwise with depth multiplier 2, dilation, AdaptiveAvgPool2d(1),
    two linears with a fused relu."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=2, dilation=2, bias=False)
        self.bn = nn.BatchNorm2d(6)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.dw = nn.Conv2d(6, 12, 3, stride=1, padding=1, groups=6)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(12, 16)
        self.fc2 = nn.Linear(16, 5)

    def forward(self, x):
        x = self.pool(F.relu(self.bn(self.conv(x))))
        x = F.relu6(self.dw(x))
        x = self.gap(x).view(1, -1)
        return self.fc2(F.relu(self.fc1(x)))


class NetC(nn.Module):
    """Functional style: padding='same', a relu whose input is also used elsewhere (not fused), avg pool with
    padding and count_include_pad=False, mean over H,W, reshape."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, 5, padding="same")
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        y = self.c1(x)
        z = F.relu(y)
        z = self.c2(z) + y
        z = F.avg_pool2d(z, 3, stride=2, padding=1, count_include_pad=False)
        return self.head(torch.mean(z, dim=(2, 3)).reshape(1, 4))


MODELS = [(NetA, (1, 1, 16, 16)), (NetB, (1, 3, 9, 9)), (NetC, (1, 2, 7, 7))]


def torch_vs_ir(model, shape, n=6, seed=0):
    torch.manual_seed(seed)
    model = randomize_bn(model, seed)
    g = from_torch(model, shape)
    x = torch.randn((n,) + tuple(shape[1:]))
    with torch.no_grad():
        want = torch.cat([model(x[i:i + 1]) for i in range(n)]).numpy()
    xin = x.numpy().transpose(0, 2, 3, 1) if x.ndim == 4 else x.numpy()
    got = run_float(g, xin)[g.outputs[0]]
    return g, got, want, model, x


@pytest.mark.parametrize("net,shape", MODELS, ids=[m[0].__name__ for m in MODELS])
def test_ir_matches_torch_float32(net, shape):
    g, got, want, _, _ = torch_vs_ir(net(), shape)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("net,shape", MODELS, ids=[m[0].__name__ for m in MODELS])
def test_ir_matches_torch_float64(net, shape):
    torch.manual_seed(1)
    model = randomize_bn(net(), 1)
    g = from_torch(model, shape)
    x = torch.randn((4,) + tuple(shape[1:]), dtype=torch.float64)
    with torch.no_grad():
        want = torch.cat([model.double()(x[i:i + 1]) for i in range(4)]).numpy()
    got = run_float(g, x.numpy().transpose(0, 2, 3, 1), "float64")[g.outputs[0]]
    # the IR stores float32 weights (BN folded in float64 first), so agreement is to float32 precision
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_float16_storage_mode_is_close_and_is_float16():
    g, _, want, _, x = torch_vs_ir(NetA(), (1, 1, 16, 16))
    env = run_float(g, x.numpy().transpose(0, 2, 3, 1), "float16")
    out = env[g.outputs[0]]
    assert all(v.dtype == np.float16 for v in env.values())
    err = np.abs(out.astype(np.float32) - want).max()
    assert 0 < err < 2e-2 * np.abs(want).max()


def test_structure_of_converted_net_a():
    g = from_torch(randomize_bn(NetA()), (1, 1, 16, 16))
    ops = [(n.name, n.op, n.attrs.get("activation")) for n in g.nodes]
    assert ops == [
        ("features.0", "conv2d", "relu"),  # BN folded, ReLU fused
        ("features.3.dw", "depthwise_conv2d", "relu6"),
        ("features.3.pw", "conv2d", "none"),
        ("features.3.add", "add", "none"),
        ("features.4", "max_pool2d", None),
        ("features.5", "conv2d", "relu"),
        ("features.7", "avg_pool2d", None),
        ("flatten", "reshape", None),
        ("fc", "fully_connected", "none"),
    ]
    assert g.inputs == ["x"] and g.tensor("x").shape == (1, 16, 16, 1)
    assert g.nodes[0].attrs["pad"] == (1, 1, 1, 1) and g.nodes[0].attrs["stride"] == (2, 2)
    assert g.tensor("features.0.weight").shape == (8, 3, 3, 1)  # OHWI
    assert g.tensor("features.3.dw.weight").shape == (1, 3, 3, 8)  # 1HWC
    assert g.tensor("features.3.dw.bias").shape == (8,)  # created by the BN fold
    assert g.tensor("fc.weight").shape == (10, 48)
    assert {t.name for t in g.params()} == {"features.0.weight", "features.0.bias", "features.3.dw.weight",
                                             "features.3.dw.bias", "features.3.pw.weight", "features.3.pw.bias",
                                             "features.5.weight", "features.5.bias", "fc.weight", "fc.bias"}
    assert "BatchNorm2d" in g.nodes[0].source and g.meta["input_layout"] == "NCHW"


def test_flatten_permutes_linear_columns():
    """The IR's fc weight is the torch weight with columns reordered from (c, h, w) to (h, w, c)."""
    model = randomize_bn(NetA())
    g = from_torch(model, (1, 1, 16, 16))
    wt = model.fc.weight.detach().numpy().reshape(10, 12, 2, 2)  # (out, c, h, w)
    np.testing.assert_array_equal(g.tensor("fc.weight").data, wt.transpose(0, 2, 3, 1).reshape(10, 48))


def test_relu_with_other_consumers_is_not_fused():
    g = from_torch(NetC(), (1, 2, 7, 7))
    ops = [n.op for n in g.nodes]
    assert ops == ["conv2d", "relu", "conv2d", "add", "avg_pool2d", "global_avg_pool", "reshape", "fully_connected"]
    assert g.nodes[0].attrs["pad"] == (2, 2, 2, 2) and g.nodes[0].attrs["activation"] == "none"


@settings(max_examples=25, deadline=None)
@given(cin=st.integers(1, 4), cout_mult=st.integers(1, 3), k=st.integers(1, 4), stride=st.integers(1, 3),
       pad=st.integers(0, 2), dil=st.integers(1, 2), h=st.integers(5, 11), depthwise=st.booleans(),
       bias=st.booleans(), act=st.sampled_from(["none", "relu", "relu6"]), seed=st.integers(0, 2**16))
def test_random_conv_geometry_matches_torch(cin, cout_mult, k, stride, pad, dil, h, depthwise, bias, act, seed):
    if (k - 1) * dil + 1 > h + 2 * pad:
        return
    torch.manual_seed(seed)
    cout = cin * cout_mult
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dil, groups=cin if depthwise else 1,
                     bias=bias)
    layers = [conv] + ({"none": [], "relu": [nn.ReLU()], "relu6": [nn.ReLU6()]}[act])
    model = nn.Sequential(*layers).eval()
    g = from_torch(model, (1, cin, h, h + 1))
    node = g.nodes[0]
    if depthwise and cin > 1:
        assert node.op == "depthwise_conv2d" and node.attrs["depth_multiplier"] == cout_mult
    assert len(g.nodes) == 1 and node.attrs["activation"] == act
    x = torch.randn(3, cin, h, h + 1)
    with torch.no_grad():
        want = model(x).numpy().transpose(0, 2, 3, 1)
    got = run_float(g, x.numpy().transpose(0, 2, 3, 1))[g.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(want).max()))


def test_pt2_round_trip_and_json_round_trip(tmp_path):
    model = randomize_bn(NetB())
    g = from_torch(model, (1, 3, 9, 9), name="netb")
    path = tmp_path / "netb.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 3, 9, 9),)), str(path))
    g2 = load_model(path, name="netb")
    assert g2.to_json() == g.to_json()
    g3 = load(path)  # dispatch by extension
    assert g3.name == "netb" and [n.op for n in g3.nodes] == [n.op for n in g.nodes]
    # JSON round trip keeps weights bit for bit and the interpreter's results
    jpath = tmp_path / "netb.json"
    g.to_json(jpath)
    g4 = Graph.from_json(jpath)
    assert g4.to_json() == g.to_json()
    x = np.random.default_rng(0).standard_normal((2, 9, 9, 3)).astype(np.float32)
    np.testing.assert_array_equal(run_float(g4, x)[g4.outputs[0]], run_float(g, x)[g.outputs[0]])
    assert load(jpath).to_json() == g.to_json()


def test_decomposed_program_gives_the_same_graph():
    model = randomize_bn(NetA())
    ep = torch.export.export(model, (torch.zeros(1, 1, 16, 16),)).run_decompositions()
    from toolkit.frontends.torch_fe import from_exported

    g1 = from_torch(model, (1, 1, 16, 16), name="m")
    g2 = from_exported(ep, "m")
    assert [n.op for n in g2.nodes] == [n.op for n in g1.nodes]
    x = np.random.default_rng(1).standard_normal((3, 16, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(run_float(g2, x)[g2.outputs[0]], run_float(g1, x)[g1.outputs[0]], rtol=1e-6,
                               atol=1e-6)


class Gelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(self.conv(x))


class Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 4)

    def forward(self, x):
        return self.rnn(x)[0]


class BnAfterAdd(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        self.bn = nn.BatchNorm2d(2)

    def forward(self, x):
        return self.bn(self.conv(x) + x)


@pytest.mark.parametrize("model,shape,pattern", [
    (Gelu(), (1, 1, 8, 8), r"unsupported op GELU .* at act \(GELU\).*Supported: Conv2d"),
    (nn.Sequential(nn.Conv2d(4, 4, 3, groups=2)), (1, 4, 8, 8), r"groups=2 .* at 0 \(Conv2d\)"),
    (Lstm(), (1, 8), r"unsupported op LSTM .* at rnn \(LSTM\)"),
    (BnAfterAdd(), (1, 2, 4, 4), r"BatchNorm2d that does not directly follow a Conv2d .* at bn \(BatchNorm2d\)"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")), (1, 1, 6, 6), r"aten.pad"),
    (nn.Sequential(nn.AvgPool2d(3, padding=1)), (1, 1, 6, 6), r"count_include_pad=False"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sigmoid()), (1, 1, 6, 6), r"Sigmoid .* at 1 \(Sigmoid\)"),
])
def test_unsupported_ops_name_the_op_and_where(model, shape, pattern):
    with pytest.raises(OdlError, match=pattern) as e:
        from_torch(model, shape)
    assert "ReLU6" in str(e.value)  # the message lists what IS supported


def test_bad_input_shape_and_missing_file(tmp_path):
    with pytest.raises(OdlError, match="batch 1"):
        from_torch(nn.Conv2d(1, 1, 1), (2, 1, 4, 4))
    with pytest.raises(OdlError, match="no such file"):
        load_model(tmp_path / "nope.pt2")
    (tmp_path / "junk.pt2").write_bytes(b"not a zip")
    with pytest.raises(OdlError, match="not a torch.export"):
        load_model(tmp_path / "junk.pt2")
    with pytest.raises(OdlError, match="unknown model format"):
        load(tmp_path / "model.onnx")


def independent_macs(model: nn.Module, shape) -> int:
    """MACs of every Conv2d / Linear from forward hooks on the torch model."""
    total = []

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            total.append(out.numel() * m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups)
        elif isinstance(m, nn.Linear):
            total.append(m.in_features * m.out_features)

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(shape))
    for h in hs:
        h.remove()
    return sum(total)


def test_odl_inspect(tmp_path, capsys):
    model = randomize_bn(NetA())
    path = tmp_path / "neta.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 1, 16, 16),)), str(path))
    assert odl_main(["inspect", str(path), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    # every conv / linear has a bias in the IR (BatchNorm folds into one); BatchNorm parameters disappear
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    n_params = sum(m.weight.numel() + m.weight.shape[0] for m in layers)
    assert s["totals"]["macs"] == independent_macs(model, (1, 1, 16, 16))
    assert s["totals"]["params"] == n_params
    by_name = {r["name"]: r for r in s["nodes"]}
    assert by_name["features.0"]["output_shape"] == [1, 8, 8, 8]
    assert by_name["features.0"]["activation_bytes"] == 8 * 8 * 8 * 4
    assert s["totals"]["largest_activation_bytes"] == 8 * 8 * 8 * 4
    assert odl_main(["inspect", str(path), "--input-shape", "1,1,16,16"]) == 0
    text = capsys.readouterr().out
    assert "features.3.dw" in text and "depthwise_conv2d+relu6" in text and "total" in text
    assert odl_main(["inspect", str(path), "--input-shape", "1,1,8,8"]) == 1
    assert "exported for input shape (1, 1, 16, 16)" in capsys.readouterr().err
    assert odl_main(["inspect", str(tmp_path / "missing.pt2")]) == 1
    with pytest.raises(SystemExit):
        odl_main(["inspect", "--help"])
    assert summarize(from_torch(model, (1, 1, 16, 16)))["totals"] == s["totals"]
