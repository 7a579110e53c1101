"""IR: validation names the problem; JSON round-trip keeps everything, weights included."""

import numpy as np
import pytest

from toolkit.errors import OdlError, ShapeError
from toolkit.ir import Graph, Node, Quant, Tensor


def small_graph() -> Graph:
    rng = np.random.default_rng(0)
    t = {
        "x": Tensor("x", (1, 8, 8, 3), "int8", "input", Quant([0.05], [-3])),
        "w": Tensor("w", (4, 3, 3, 3), "int8", "param", Quant([0.01, 0.02, 0.03, 0.04], [0] * 4, axis=0),
                    rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)),
        "b": Tensor("b", (4,), "int32", "param", None, np.arange(4, dtype=np.int32)),
        "y": Tensor("y", (1, 4, 4, 4), "int8", "activation", Quant([0.1], [2])),
        "p": Tensor("p", (1, 1, 1, 4), "int8", "activation", Quant([0.1], [2])),
        "f": Tensor("f", (1, 4), "int8", "output", Quant([0.1], [2])),
    }
    nodes = [
        Node("conv", "conv2d", ["x", "w", "b"], ["y"], {"kernel": (3, 3), "stride": (2, 2), "dilation": (1, 1),
                                                         "pad": (0, 1, 0, 1), "activation": "relu"}, "features.0"),
        Node("pool", "global_avg_pool", ["y"], ["p"]),
        Node("flat", "reshape", ["p"], ["f"], {"shape": (1, 4)}),
    ]
    return Graph("tiny", t, nodes, ["x"], ["f"], {"framework": "test"})


def test_validate_and_round_trip():
    g = small_graph().validate()
    g2 = Graph.from_json(g.to_json())
    assert g2.to_json() == g.to_json()
    assert np.array_equal(g2.tensor("w").data, g.tensor("w").data) and g2.tensor("w").data.dtype == np.int8
    assert g2.tensor("w").quant.scale == [0.01, 0.02, 0.03, 0.04]
    assert g2.nodes[0].attrs["pad"] == (0, 1, 0, 1)
    assert g2.producer("y").name == "conv" and [n.name for n in g2.consumers("y")] == ["pool"]


def test_wrong_output_shape_names_the_node():
    g = small_graph()
    g.tensors["y"].shape = (1, 8, 8, 4)
    with pytest.raises(ShapeError, match=r"node conv \(conv2d\): output y has shape \(1, 8, 8, 4\), expected \(1, 4, 4, 4\)"):
        g.validate()


def test_unsupported_op_names_where_it_is():
    g = small_graph()
    g.nodes[1] = Node("gelu", "gelu", ["y"], ["p"], {}, "features.1")
    with pytest.raises(OdlError, match=r"node gelu \(features.1\): unsupported op 'gelu'"):
        g.validate()


def test_use_before_definition():
    g = small_graph()
    g.nodes = [g.nodes[1], g.nodes[0], g.nodes[2]]
    with pytest.raises(OdlError, match="used before it is produced"):
        g.validate()


def test_version_check():
    d = small_graph().to_dict()
    d["version"] = 99
    with pytest.raises(OdlError, match="version 99"):
        Graph.from_dict(d)
