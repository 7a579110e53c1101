"""UpdateSpec: shorthands, TOML parsing and round trip, channel selection, clear errors."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.ir import Graph, Node, Tensor
from toolkit.train.spec import SpecError, UpdateSpec, WeightUpdate


def graph(w_fc=None) -> Graph:
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((8, 3, 3, 2)).astype(np.float32)
    w2 = rng.standard_normal((1, 3, 3, 8)).astype(np.float32)
    w3 = w_fc if w_fc is not None else rng.standard_normal((4, 8)).astype(np.float32)
    t = {
        "x": Tensor("x", (1, 6, 6, 2), kind="input"),
        "l1.weight": Tensor("l1.weight", w1.shape, kind="param", data=w1),
        "l1.bias": Tensor("l1.bias", (8,), kind="param", data=np.zeros(8, np.float32)),
        "a": Tensor("a", (1, 6, 6, 8)),
        "dw.weight": Tensor("dw.weight", w2.shape, kind="param", data=w2),
        "b": Tensor("b", (1, 6, 6, 8)),
        "p": Tensor("p", (1, 1, 1, 8)),
        "f": Tensor("f", (1, 8)),
        "fc.weight": Tensor("fc.weight", w3.shape, kind="param", data=w3),
        "fc.bias": Tensor("fc.bias", (4,), kind="param", data=np.zeros(4, np.float32)),
        "y": Tensor("y", (1, 4), kind="output"),
    }
    conv = {"kernel": (3, 3), "stride": (1, 1), "dilation": (1, 1), "pad": (1, 1, 1, 1), "activation": "relu"}
    nodes = [
        Node("l1", "conv2d", ["x", "l1.weight", "l1.bias"], ["a"], conv, "features.l1"),
        Node("dw", "depthwise_conv2d", ["a", "dw.weight"], ["b"], dict(conv, depth_multiplier=1)),
        Node("gap", "global_avg_pool", ["b"], ["p"]),
        Node("flat", "reshape", ["p"], ["f"], {"shape": (1, 8)}),
        Node("fc", "fully_connected", ["f", "fc.weight", "fc.bias"], ["y"], {"activation": "none"}),
    ]
    return Graph("g", t, nodes, ["x"], ["y"]).validate()


def test_shorthands():
    g = graph()
    r = UpdateSpec.parse("full").resolve(g)
    assert list(r.weights) == ["l1", "dw", "fc"] and list(r.biases) == ["l1", "fc"]   # dw has no bias
    r = UpdateSpec.parse("last-layer").resolve(g)
    assert list(r.weights) == ["fc"] and list(r.biases) == ["fc"]
    r = UpdateSpec.parse("biases:3").resolve(g)
    assert r.weights == {} and list(r.biases) == ["l1", "fc"]
    r = UpdateSpec.parse("last:2").resolve(g)
    assert list(r.weights) == ["dw", "fc"] and r.weights["dw"].tolist() == list(range(8))
    s = UpdateSpec.parse("last:2", lr=0.1, momentum=0.9)
    assert s.lr == 0.1 and s.momentum == 0.9


@pytest.mark.parametrize("bad,msg", [("last:0", "positive integer"), ("biases:x", "positive integer"),
                                     ("everything", "unknown update shorthand")])
def test_bad_shorthand(bad, msg):
    with pytest.raises(SpecError, match=msg):
        UpdateSpec.parse(bad)


def test_too_many_layers_named():
    with pytest.raises(SpecError, match="has 3"):
        UpdateSpec.parse("last:4").resolve(graph())


def test_magnitude_selection_ties_to_lower_index():
    w = np.zeros((4, 8), np.float32)
    w[0, 0] = 1.0
    w[1, 0] = 2.0
    w[2, 0] = 2.0   # ties with channel 1
    w[3, 0] = -2.0  # same norm again
    g = graph(w)
    spec = UpdateSpec(weights=[WeightUpdate("fc", Fraction(1, 2))])
    assert spec.resolve(g).weights["fc"].tolist() == [1, 2]
    spec = UpdateSpec(weights=[WeightUpdate("fc", Fraction(1, 4))])
    assert spec.resolve(g).weights["fc"].tolist() == [1]


def test_magnitude_matches_numpy_topk():
    g = graph()
    w = g.tensor("l1.weight").data.reshape(8, -1).astype(np.float64)
    want = np.sort(np.argsort(-np.sqrt((w * w).sum(1)), kind="stable")[:2])
    spec = UpdateSpec.parse('[[update.weights]]\nlayer = "l1"\nratio = "1/4"\n')
    assert spec.resolve(g).weights["l1"].tolist() == want.tolist()
    # depthwise: channels are the last axis of the 1HWC weight
    wd = g.tensor("dw.weight").data.reshape(-1, 8).T.astype(np.float64)
    want = np.sort(np.argsort(-np.sqrt((wd * wd).sum(1)), kind="stable")[:4])
    spec = UpdateSpec.parse('[[update.weights]]\nlayer = "dw"\nratio = 0.5\n')
    assert spec.resolve(g).weights["dw"].tolist() == want.tolist()


def test_indices_sorted_and_module_path_names():
    spec = UpdateSpec.parse('[[update.weights]]\nlayer = "features.l1"\nindices = [5, 1, 3, 1]\n')
    assert spec.resolve(graph()).weights["l1"].tolist() == [1, 3, 5]


@pytest.mark.parametrize("toml,msg", [
    ('[[update.weights]]\nlayer = "nope"\n', r"unknown layer 'nope'.*layers of g: l1, dw, fc"),
    ('[[update.weights]]\nlayer = "fc"\nratio = 0.3\n', "ratio 0.3 is not allowed; use one of 1/8, 1/4, 1/2, 1"),
    ('[[update.weights]]\nlayer = "fc"\nratio = "half"\n', "not a number"),
    ('[[update.weights]]\nlayer = "fc"\nindices = [9]\n', r"indices \[9\] out of range \(it has 4"),
    ('[[update.weights]]\nlayer = "fc"\nindices = []\n', "non-empty list"),
    ('[[update.weights]]\nlayer = "fc"\n[[update.weights]]\nlayer = "fc"\n', "more than once"),
    ('[update]\nbias_layers = ["dw"]\n', "has no bias"),
    ('[optimizer]\nschedule = "cosine"\n', "total_steps > 0"),
    ('[optimizer]\nschedule = "step"\n', "schedule 'step' unknown"),
    ('[optimizer]\nmomentum = 1.5\n', r"momentum must be in \[0, 1\)"),
    ('[optimizer]\nlr = -1.0\n', "learning rate"),
    ('[int8]\nrounding = "floor"\n', "rounding 'floor' unknown"),
    ('[int8]\nseed = 0\n', "seed"),
    ('[optim]\nlr = 1.0\n', "unknown tables"),
    ('[optimizer]\nlearning_rate = 1.0\n', "unknown keys"),
    ('[update\n', "not valid TOML"),
])
def test_errors(toml, msg):
    with pytest.raises(SpecError, match=msg):
        UpdateSpec.parse(toml).resolve(graph())


def test_file(tmp_path):
    p = tmp_path / "spec.toml"
    p.write_text('[update]\nbiases = 1\n[optimizer]\nlr = 0.5\n')
    s = UpdateSpec.parse(str(p))
    assert s.lr == 0.5 and list(s.resolve(graph()).biases) == ["fc"]
    s = UpdateSpec.parse(str(p), lr=0.25, momentum=0.5)   # keyword arguments override the file
    assert (s.lr, s.momentum, s.biases) == (0.25, 0.5, 1)
    with pytest.raises(SpecError, match="momentum"):
        UpdateSpec.parse(str(p), momentum=2.0)
    with pytest.raises(SpecError, match="does not exist"):
        UpdateSpec.parse(str(tmp_path / "missing.toml"))


weights = st.lists(st.builds(
    WeightUpdate, st.sampled_from(["l1", "dw", "fc"]),
    st.sampled_from([Fraction(1, 8), Fraction(1, 4), Fraction(1, 2), Fraction(1)]),
    st.just("magnitude")), max_size=3, unique_by=lambda w: w.layer)
specs = st.builds(
    UpdateSpec, weights=weights, biases=st.integers(0, 3), all_weights=st.booleans(), last_weights=st.integers(0, 3),
    lr=st.floats(0, 10, allow_nan=False), momentum=st.floats(0, 0.99), weight_decay=st.floats(0, 1),
    schedule=st.just("constant"), qas=st.booleans(), rounding=st.sampled_from(["nearest", "stochastic", "master"]),
    seed=st.integers(1, 2**32 - 1))


@settings(max_examples=60, deadline=None)
@given(specs)
def test_to_toml_round_trips(spec):
    again = UpdateSpec.parse(spec.to_toml())
    assert again.to_dict() == spec.to_dict()
    assert again.to_toml() == spec.to_toml()
    g = graph()
    a, b = spec.resolve(g), again.resolve(g)
    assert {k: v.tolist() for k, v in a.weights.items()} == {k: v.tolist() for k, v in b.weights.items()}
