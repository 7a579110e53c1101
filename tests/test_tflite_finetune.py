"""Fine-tuning an imported int8 .tflite and exporting it back (toolkit.tflite.export): the exported model runs in
TFLite Micro and LiteRT (reference kernels) with the outputs of the fine-tuned generated C; export round trips
(re-import, same outputs in TFLM); export errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.frontends.tflite_fe import from_tflite
from toolkit.tflite import run_litert, run_tflm
from toolkit.tflite.export import ExportError, export_tflite, load_trained
from toolkit.tflite.models import small_cnn_model


def samples(m, n: int, rng) -> np.ndarray:
    if m.input_dtype == np.float32:
        return rng.uniform(-1.5, 1.5, (n,) + m.input_shape).astype(np.float32)
    return rng.integers(-128, 128, (n,) + m.input_shape).astype(np.int8)


def ops(model: bytes) -> list[str]:
    import tflite

    from toolkit.tflite import builtin_name

    mm = tflite.Model.GetRootAsModel(model, 0)
    sg = mm.Subgraphs(0)
    codes = [max(mm.OperatorCodes(i).BuiltinCode(), mm.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(mm.OperatorCodesLength())]
    return [builtin_name(codes[sg.Operators(i).OpcodeIndex()]) for i in range(sg.OperatorsLength())]


# ---- export round trip (no training) -------------------------------------------------------------------------

@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), h=st.integers(9, 15), w=st.integers(9, 15), cin=st.integers(1, 4),
       width=st.sampled_from([4, 6, 8]), head=st.sampled_from(["flatten", "mean"]), float_io=st.booleans(),
       softmax=st.booleans())
def test_export_round_trip_runs_like_the_original(seed, h, w, cin, width, head, float_io, softmax):
    m = small_cnn_model(seed=seed, hw=(h, w), cin=cin, width=width, head=head, float_io=float_io, softmax=softmax)
    g = from_tflite(m.model)
    data = export_tflite(g)
    g2 = from_tflite(data)
    assert [(n.op, n.attrs) for n in g2.nodes] == [(n.op, n.attrs) for n in g.nodes]
    for p in g.params():
        q = g2.tensor(p.name)
        np.testing.assert_array_equal(q.data, p.data)
        assert q.quant.scale == p.quant.scale and q.quant.zero_point == p.quant.zero_point
        assert q.quant.axis == p.quant.axis
    for x in samples(m, 2, np.random.default_rng(seed)):
        want = run_tflm(m.model, x, measure_arena=False).outputs[0]
        got = run_tflm(data, x, measure_arena=False).outputs[0]
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_export_is_converter_shaped():
    m = small_cnn_model(seed=4, hw=(13, 13), head="mean", float_io=True)  # conv2 pad (1, 1) is not SAME
    data = export_tflite(from_tflite(m.model))
    got = ops(data)
    # explicit padding of conv2 comes back as PAD + VALID conv; MEAN without keep_dims; float edges
    assert got == ["QUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "ADD", "PAD", "CONV_2D",
                   "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX", "DEQUANTIZE"]
    import tflite

    sg = tflite.Model.GetRootAsModel(data, 0).Subgraphs(0)
    names = [sg.Tensors(i).Name().decode() for i in range(sg.TensorsLength())]
    assert "serving_default_input:0" in names and "StatefulPartitionedCall:0" in names
    assert any(n.startswith("model/conv1/Relu;") for n in names)  # the file's own (fused) tensor names


def test_export_errors():
    m = small_cnn_model(seed=5, head="flatten", float_io=False)
    g = from_tflite(m.model)
    with pytest.raises(ExportError, match="not in graph"):
        export_tflite(g, {"no/such/tensor": np.zeros(3, np.int8)})
    w = g.params()[0]
    with pytest.raises(ExportError, match=re.escape(w.name)):
        export_tflite(g, {w.name: np.zeros((2, 2), np.int8)})
    pool = next(n for n in g.nodes if n.op == "avg_pool2d")
    pool.attrs["pad"] = (1, 0, 0, 0)
    with pytest.raises(ExportError, match="neither SAME"):
        export_tflite(g)
    g.meta["precision"] = "fp32"
    with pytest.raises(ExportError, match="int8"):
        export_tflite(g)


# ---- fine-tuning in the generated C, then export ------------------------------------------------------------

def test_finetune_export_equals_generated_c(tmp_path):
    """Emulate QAS fine-tuning of the last layer of an imported .tflite (scales from the file), save the trained
    tensors, export: TFLM and LiteRT (reference kernels) run the exported file with the fine-tuned C's outputs."""
    from toolkit.emulate import emulate
    from toolkit.infer import InferenceModel

    m = small_cnn_model(seed=31, head="flatten", float_io=True)
    path = tmp_path / "model.tflite"
    path.write_bytes(m.model)
    g = from_tflite(m.model)
    rng = np.random.default_rng(3)
    x = samples(m, 48, rng)
    before = np.stack([run_tflm(m.model, xi, measure_arena=False).outputs[0] for xi in x])
    y = (before.reshape(len(x), -1).argmax(1) + 3) % 10  # new labels: the model must change to fit them
    hist = emulate(str(path), (x[:, 0], y), (x[:, 0], y), epochs=3, spec="last-layer", precision="int8",
                   save=tmp_path / "trained.npz", progress=False)
    assert hist["after"]["loss"] < hist["before"]["loss"]
    trained = load_trained(tmp_path / "trained.npz")
    assert set(trained) == set(hist["_program"].trained_tensors()) and len(trained) == 2  # FC weight + bias
    changed = [k for k, v in trained.items() if not np.array_equal(v, g.tensor(k).data)]
    assert changed
    out = tmp_path / "finetuned.tflite"
    data = export_tflite(g, trained, path=out)
    assert out.read_bytes() == data
    g2 = from_tflite(data)
    for k, v in trained.items():
        np.testing.assert_array_equal(g2.tensor(k).data, v)
        assert g2.tensor(k).quant.scale == g.tensor(k).quant.scale  # QAS: the file's scales are kept
    prog, hm = hist["_program"], hist["_model"]
    c = InferenceModel(g, built=(prog, None, hm))  # the fine-tuned generated C (host), softmax + DEQUANTIZE
    xs = samples(m, 6, np.random.default_rng(4))
    got = c.run(xs)
    tf = np.stack([run_tflm(data, xi, measure_arena=False).outputs[0] for xi in xs])
    lr = np.stack([run_litert(data, xi, kernels="reference")[0] for xi in xs])
    np.testing.assert_array_equal(got, tf)
    np.testing.assert_array_equal(got, lr)
    assert not np.array_equal(tf, np.stack([run_tflm(m.model, xi, measure_arena=False).outputs[0] for xi in xs]))


def test_finetune_on_emulated_board_export_equals_board(tmp_path):
    """`odl build model.tflite --board qemu-cm4` + on-device QAS fine-tuning (DeviceSession.train, what `odl train`
    runs): the trained int8 tensors equal the host emulation's byte for byte, and the exported .tflite runs in TFLM
    and LiteRT (reference kernels) with the outputs the board computes with its trained state."""
    from toolkit.cli import main
    from toolkit.device import DeviceSession, load_build
    from toolkit.emulate import emulate
    from toolkit.infer import InferenceModel

    m = small_cnn_model(seed=31, head="flatten", float_io=True)  # the model above: its host build is reused
    path = tmp_path / "model.tflite"
    path.write_bytes(m.model)
    g = from_tflite(m.model)
    x = samples(m, 24, np.random.default_rng(6))[:, 0]
    y = (np.arange(len(x)) * 7) % 10
    assert main(["build", str(path), "--board", "qemu-cm4", "--update", "last-layer", "--precision", "int8",
                 "-o", str(tmp_path / "build")]) == 0
    host = emulate(str(path), (x, y), epochs=2, spec="last-layer", precision="int8", progress=False, seed=0)
    want_trained = {ir: host["_model"].read(b.name) for ir, b in host["_program"].trained_tensors().items()}
    with DeviceSession(load_build(tmp_path / "build")) as s:
        s.train(x, y, epochs=2, seed=0, progress=False)
        trained = s.trained()
        for k, v in want_trained.items():
            np.testing.assert_array_equal(trained[k], v)
        xs = samples(m, 5, np.random.default_rng(7))
        board = InferenceModel.from_session(s).run(xs)
    data = export_tflite(g, trained)
    tf = np.stack([run_tflm(data, xi, measure_arena=False).outputs[0] for xi in xs])
    lr = np.stack([run_litert(data, xi, kernels="reference")[0] for xi in xs])
    assert board.dtype == np.float32  # float edges: the board's int8 softmax, dequantized as DEQUANTIZE does
    np.testing.assert_array_equal(board, tf)
    np.testing.assert_array_equal(board, lr)


def test_export_of_a_pytorch_int8_graph_runs_like_run_int8():
    """A PyTorch model after odl's PTQ exports too (NHWC int8 input, int8 logits): TFLM equals toolkit.ir.interp."""
    import torch

    from toolkit.frontends import from_torch
    from toolkit.ir.interp import run_int8
    from toolkit.quant.ptq import quantize, quantize_input

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 5)).eval()
    x = np.random.default_rng(0).standard_normal((12, 3, 12, 12)).astype(np.float32)
    q = quantize(from_torch(net, (1, 3, 12, 12)), x)
    data = export_tflite(q)
    assert "PAD" in ops(data)  # torch's symmetric padding 1 at stride 2 on 12 is not TFLite's SAME (0, 1)
    xq = quantize_input(q, x[:5])
    for i in range(5):
        want = run_int8(q, xq[i:i + 1])[q.outputs[0]]
        got = run_tflm(data, xq[i:i + 1], measure_arena=False).outputs[0]
        np.testing.assert_array_equal(got, want.reshape(got.shape))
