"""The .tflite frontend: converter-shaped int8 models (built here without TensorFlow) imported into the IR, run by
toolkit.ir.interp.run_int8 and compared bit for bit with TFLite Micro's interpreter (the reference), tensor by
tensor; the IR's structure; errors; `odl inspect`; TFLM's arena size."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.cli import main as odl_main
from toolkit.errors import OdlError
from toolkit.frontends import from_tflite, load
from toolkit.frontends.tflite_fe import UnsupportedTfliteOpError, tflm_arena_bytes
from toolkit.ir import Graph
from toolkit.ir.interp import run_int8
from toolkit.quant.ptq import dequantize_output, quantize_input
from toolkit.tflite import ModelBuilder, builtin_name, conv2d_model, depthwise_conv2d_model, pool2d_model, run_tflm
from toolkit.tflite.models import small_cnn_model
from toolkit.tflite.softmax_ref import run_int8_with_softmax, softmax_s8


def without_softmax(g: Graph) -> Graph:
    """The graph up to the logits (what the compiler builds: programs output logits)."""
    nodes = [n for n in g.nodes if n.op != "softmax"]
    drop = {o for n in g.nodes if n.op == "softmax" for o in n.outputs}
    logits = [n.inputs[0] for n in g.nodes if n.op == "softmax"]
    outs = [o for o in g.outputs if o not in drop] + [x for x in logits if x not in g.outputs]
    return Graph(g.name, {k: t for k, t in g.tensors.items() if k not in drop}, nodes, list(g.inputs), outs,
                 dict(g.meta)).validate()


def sample(m, rng):
    if m.input_dtype == np.float32:
        return rng.uniform(-2.5, 2.5, size=m.input_shape).astype(np.float32)
    return rng.integers(-128, 128, size=m.input_shape, dtype=np.int8)


def check_model_against_tflm(m, x):
    """Import ``m`` (a SmallCnn with debug outputs), run it and compare every int8 tensor TFLM reports."""
    g = from_tflite(m.model)
    ref = run_tflm(m.model, x, measure_arena=False).outputs
    xq = quantize_input(g, x) if x.dtype == np.float32 else x
    env = run_int8_with_softmax(g, xq)
    by_file_name = {v: k for k, v in g.meta["tflite_names"].items()}
    compared = 0
    for name, y in zip(m.output_names, ref):
        ir = by_file_name.get(name)
        if ir is None or ir not in env:
            continue
        np.testing.assert_array_equal(env[ir].reshape(y.shape), y, err_msg=f"tensor {name}")
        compared += 1
    return g, env, ref, compared


@pytest.mark.parametrize("head", ["flatten", "mean"])
@pytest.mark.parametrize("float_io", [True, False])
def test_small_cnn_every_tensor_equals_tflm(head, float_io):
    m = small_cnn_model(seed=3, head=head, float_io=float_io, debug_outputs=True)
    rng = np.random.default_rng(7)
    for _ in range(3):
        x = sample(m, rng)
        g, env, ref, compared = check_model_against_tflm(m, x)
        assert compared == len(m.output_names) - (1 if float_io else 0)  # + the softmax output when int8
        if float_io:  # the model's float output: DEQUANTIZE of the int8 softmax
            np.testing.assert_array_equal(dequantize_output(g, env[g.outputs[0]]), ref[0])
        else:
            assert len(np.unique(ref[0])) > 2  # the softmax is not one-hot: its arithmetic is exercised
    sm = [n for n in g.nodes if n.op == "softmax"]
    assert len(sm) == 1 and sm[0].outputs == g.outputs[:1]
    q = g.tensor(sm[0].outputs[0]).quant
    assert q.scale == [1.0 / 256.0] and q.zero_point == [-128] and sm[0].attrs["beta"] == 1.0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), h=st.integers(9, 16), w=st.integers(9, 16), cin=st.integers(1, 4),
       width=st.sampled_from([4, 8, 12]), head=st.sampled_from(["flatten", "mean"]), float_io=st.booleans())
def test_small_cnn_geometries_equal_tflm(seed, h, w, cin, width, head, float_io):
    m = small_cnn_model(seed=seed, hw=(h, w), cin=cin, width=width, head=head, float_io=float_io,
                        debug_outputs=True)
    _, _, _, compared = check_model_against_tflm(m, sample(m, np.random.default_rng(seed)))
    assert compared == len(m.output_names) - (1 if float_io else 0)


@pytest.mark.parametrize("head", ["flatten", "mean"])
def test_float_edges_quantize_and_dequantize_like_tflm(head):
    """float in / float out: QUANTIZE and DEQUANTIZE removed, recorded in meta; the float output TFLM computes equals
    dequantize_output(run_int8(quantize_input(x)))."""
    m = small_cnn_model(seed=11, head=head, float_io=True, softmax=False)
    g = from_tflite(m.model)
    io = g.meta["tflite_io"]
    assert io["input"]["dtype"] == "float32" and io["input"]["shape"] == list(m.input_shape)
    tin = g.tensor(g.inputs[0])
    assert tin.dtype == "int8" and tin.kind == "input"
    assert (io["input"]["scale"], io["input"]["zero_point"]) == (tin.quant.scale[0], tin.quant.zero_point[0])
    assert io["outputs"][0]["scale"] == g.tensor(g.outputs[0]).quant.scale[0]
    rng = np.random.default_rng(5)
    for _ in range(4):
        x = sample(m, rng)
        want = run_tflm(m.model, x, measure_arena=False).outputs[0]
        got = dequantize_output(g, run_int8(g, quantize_input(g, x))[g.outputs[0]])
        assert want.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_small_cnn_structure():
    m = small_cnn_model(seed=1, head="flatten", float_io=True)
    g = from_tflite(m.model)
    ops = [n.op for n in g.nodes]
    assert ops == ["conv2d", "depthwise_conv2d", "conv2d", "add", "conv2d", "depthwise_conv2d", "avg_pool2d",
                   "max_pool2d", "reshape", "fully_connected", "softmax"]
    by = {n.name: n for n in g.nodes}
    assert by["model/conv1/Relu"].attrs["activation"] == "relu"
    assert by["model/conv1/Relu"].attrs["pad"] == (1, 1, 1, 1)  # SAME 3x3 stride 1
    assert by["model/dw1/Relu6"].attrs["activation"] == "relu6"
    assert by["model/dw1/Relu6"].attrs["pad"] == (0, 0, 0, 0) and by["model/dw1/Relu6"].attrs["stride"] == (2, 2)
    assert by["model/add/Relu"].attrs["activation"] == "relu"
    conv2 = by["model/conv2"]
    assert conv2.attrs["pad"] == (1, 1, 1, 1) and "PAD operator" in conv2.source  # PAD folded, VALID conv
    assert conv2.inputs[0] == "model/add/Relu"
    assert by["model/dw2"].attrs["depth_multiplier"] == 2
    assert by["model/flatten/Reshape"].attrs["shape"] == (1, g.tensor("model/flatten/Reshape").size)
    # weights: per-channel symmetric along O (conv) / C (depthwise); biases int32 with scale s_in * s_w
    w = g.tensor(conv2.inputs[1])
    assert w.kind == "param" and w.dtype == "int8" and w.quant.axis == 0 and len(w.quant.scale) == 16
    assert set(w.quant.zero_point) == {0}
    dw = g.tensor(by["model/dw2"].inputs[1])
    assert dw.shape[0] == 1 and dw.quant.axis == 3 and len(dw.quant.scale) == dw.shape[3]
    b = g.tensor(conv2.inputs[2])
    s_in = np.float32(g.tensor(conv2.inputs[0]).quant.scale[0])
    np.testing.assert_array_equal(np.float32(b.quant.scale), s_in * np.float32(w.quant.scale))
    assert b.dtype == "int32"
    # every tensor has quantization; nothing of the shape subgraph or the float edges is left
    assert all(t.quant is not None for t in g.tensors.values())
    assert not any("Shape" in k or "strided_slice" in k for k in g.tensors)
    assert g.meta["framework"] == "tflite" and g.meta["precision"] == "int8" and g.meta["per_channel"]
    # JSON round trip keeps it runnable
    g2 = Graph.from_json(g.to_json())
    x = quantize_input(g, sample(m, np.random.default_rng(0)))
    a, b2 = run_int8(without_softmax(g), x), run_int8(without_softmax(g2), x)
    for k in a:
        np.testing.assert_array_equal(a[k], b2[k])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 3), n=st.integers(1, 40), log_scale=st.floats(-3.0, 0.7),
       beta=st.sampled_from([1.0, 0.5, 2.0]), flat=st.booleans())
def test_softmax_s8_equals_tflm(seed, rows, n, log_scale, beta, flat):
    """toolkit.tflite.softmax_ref (int8 softmax, gemmlowp fixed point) against TFLM's SOFTMAX."""
    from toolkit.tflite import softmax_model

    rng = np.random.default_rng(seed)
    scale = float(np.float32(10.0 ** log_scale))
    x = rng.integers(-128, 128, size=(rows, n), dtype=np.int8)
    if flat:
        x[:, :] = x[:, :1]
    model = softmax_model((rows, n), in_scale=scale, in_zp=int(rng.integers(-128, 128)), beta=beta)
    want = run_tflm(model, x, measure_arena=False).outputs[0]
    np.testing.assert_array_equal(softmax_s8(x, scale, beta), want)


# ---- single-op models: SAME / VALID geometries, strides, dilation, depth multiplier -----------------------------

def _single_op_check(model: bytes, x: np.ndarray):
    g = from_tflite(model)
    want = run_tflm(model, x, measure_arena=False).outputs[0]
    got = run_int8(g, x)[g.outputs[0]]
    np.testing.assert_array_equal(got.reshape(want.shape), want)
    return g


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), h=st.integers(3, 10), w=st.integers(3, 10), k=st.integers(1, 4),
       stride=st.integers(1, 3), dil=st.integers(1, 2), padding=st.sampled_from(["SAME", "VALID"]),
       depthwise=st.booleans(), mult=st.integers(1, 2), act=st.sampled_from(["NONE", "RELU", "RELU6"]))
def test_conv_geometries_equal_tflm(seed, h, w, k, stride, dil, padding, depthwise, mult, act):
    if padding == "VALID" and (k - 1) * dil + 1 > min(h, w):
        return
    if stride > 1 and dil > 1:
        dil = 1  # TFLite forbids neither, but keep the windows inside small inputs
    rng = np.random.default_rng(seed)
    cin = int(rng.integers(1, 5))
    q = dict(in_scale=0.02, in_zp=int(rng.integers(-20, 20)), out_scale=float(rng.uniform(0.05, 0.2)),
             out_zp=int(rng.integers(-20, 20)), stride=(stride, stride), dilation=(dil, dil), padding=padding,
             activation=act)
    if depthwise:
        wq = rng.integers(-127, 128, size=(1, k, k, cin * mult), dtype=np.int8)
        ws = rng.uniform(0.005, 0.02, size=cin * mult).astype(np.float32)
        bias = rng.integers(-500, 500, size=cin * mult).astype(np.int32)
        model = depthwise_conv2d_model((1, h, w, cin), wq, bias, depth_multiplier=mult, w_scales=ws, **q)
    else:
        cout = int(rng.integers(1, 6))
        wq = rng.integers(-127, 128, size=(cout, k, k, cin), dtype=np.int8)
        ws = rng.uniform(0.005, 0.02, size=cout).astype(np.float32)
        bias = rng.integers(-500, 500, size=cout).astype(np.int32)
        model = conv2d_model((1, h, w, cin), wq, bias, w_scales=ws, **q)
    x = rng.integers(-128, 128, size=(1, h, w, cin), dtype=np.int8)
    g = _single_op_check(model, x)
    assert g.nodes[0].op == ("depthwise_conv2d" if depthwise else "conv2d")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), h=st.integers(2, 9), w=st.integers(2, 9), k=st.integers(1, 3),
       stride=st.integers(1, 3), padding=st.sampled_from(["SAME", "VALID"]), kind=st.sampled_from(["avg", "max"]),
       act=st.sampled_from(["NONE", "RELU", "RELU6"]))
def test_pool_geometries_equal_tflm(seed, h, w, k, stride, padding, kind, act):
    if padding == "VALID" and k > min(h, w):
        return
    rng = np.random.default_rng(seed)
    model = pool2d_model(kind, (1, h, w, 3), pool=(k, k), stride=(stride, stride), padding=padding, scale=0.03,
                         zero_point=int(rng.integers(-30, 30)), activation=act)
    g = _single_op_check(model, rng.integers(-128, 128, size=(1, h, w, 3), dtype=np.int8))
    assert [n.op for n in g.nodes][-1] == ({"RELU": "relu", "RELU6": "relu6"}.get(act)
                                           or {"avg": "avg_pool2d", "max": "max_pool2d"}[kind])


def test_fully_connected_on_a_map_flattens():
    """TFLite's FULLY_CONNECTED flattens a 4-D input implicitly: the IR gets a reshape first."""
    rng = np.random.default_rng(2)
    b = ModelBuilder()
    x = b.add_tensor("x", (1, 2, 3, 4), np.int8, scale=0.05, zero_point=3)
    wq = rng.integers(-127, 128, size=(5, 24), dtype=np.int8)
    ws = rng.uniform(0.005, 0.02, size=5).astype(np.float32)
    wt = b.add_tensor("w", wq.shape, np.int8, data=wq, scale=ws, zero_point=0, quantized_dimension=0)
    bt = b.add_tensor("b", (5,), np.int32, data=rng.integers(-900, 900, size=5).astype(np.int32),
                      scale=np.float32(0.05) * ws, zero_point=0, quantized_dimension=0)
    y = b.add_tensor("y", (1, 5), np.int8, scale=0.2, zero_point=-4)
    b.add_operator("FULLY_CONNECTED", [x, wt, bt], [y], {"activation": "RELU"})
    g = _single_op_check(b.finish(), rng.integers(-128, 128, size=(1, 2, 3, 4), dtype=np.int8))
    assert [n.op for n in g.nodes] == ["reshape", "fully_connected"]


# ---- errors -------------------------------------------------------------------------------------------------

def _two_op_model(second: str, options=None, extra_inputs=()):
    b = ModelBuilder()
    x = b.add_tensor("x", (1, 4, 4, 2), np.int8, scale=0.05, zero_point=0)
    y = b.add_tensor("y", (1, 4, 4, 2), np.int8, scale=0.05, zero_point=0)
    b.add_operator("MAX_POOL_2D", [x], [y], {"padding": "SAME", "stride": (1, 1), "filter": (2, 2)})
    z = b.add_tensor("z", (1, 4, 4, 2), np.int8, scale=1 / 128, zero_point=0)
    b.add_operator(second, [y, *extra_inputs], [z], options)
    return b.finish()


def test_unsupported_op_names_builtin_index_and_list():
    with pytest.raises(UnsupportedTfliteOpError) as e:
        from_tflite(_two_op_model("TANH"))
    msg = str(e.value)
    assert "TANH" in msg and "operator 1" in msg and "'z'" in msg and "Supported: CONV_2D" in msg
    assert "SOFTMAX" in msg and "SHAPE" in msg


def test_unsupported_forms_are_clear_errors(tmp_path):
    # a fused activation TFLite has but the IR does not
    rng = np.random.default_rng(0)
    wq = rng.integers(-127, 128, size=(2, 3, 3, 2), dtype=np.int8)
    model = conv2d_model((1, 5, 5, 2), wq, None, in_scale=0.02, in_zp=0, w_scales=[0.01, 0.01], out_scale=0.1,
                         out_zp=0, activation="RELU_N1_TO_1")
    with pytest.raises(OdlError, match="RELU_N1_TO_1"):
        from_tflite(model)
    # a PAD read by a pool (the IR has no pad op; only convolutions absorb one)
    b = ModelBuilder()
    x = b.add_tensor("x", (1, 4, 4, 2), np.int8, scale=0.05, zero_point=0)
    p = b.add_tensor("p", (4, 2), np.int32, data=np.asarray([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))
    xp = b.add_tensor("xp", (1, 6, 6, 2), np.int8, scale=0.05, zero_point=0)
    y = b.add_tensor("y", (1, 5, 5, 2), np.int8, scale=0.05, zero_point=0)
    b.add_operator("PAD", [x, p], [xp])
    b.add_operator("MAX_POOL_2D", [xp], [y], {"padding": "VALID", "stride": (1, 1), "filter": (2, 2)})
    with pytest.raises(UnsupportedTfliteOpError, match="PAD read by MAX_POOL_2D"):
        from_tflite(b.finish())
    # QUANTIZE int8 -> int8 (requantization) inside the graph
    b = ModelBuilder()
    x = b.add_tensor("x", (1, 4), np.int8, scale=0.05, zero_point=0)
    y = b.add_tensor("y", (1, 4), np.int8, scale=0.1, zero_point=3)
    b.add_operator("QUANTIZE", [x], [y])
    with pytest.raises(UnsupportedTfliteOpError, match="QUANTIZE"):
        from_tflite(b.finish())
    # not a flatbuffer / missing file / load() dispatch
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(OdlError, match="not a .tflite flatbuffer"):
        load(bad)
    with pytest.raises(OdlError, match="no such file"):
        load(tmp_path / "missing.tflite")


# ---- CLI and memory -----------------------------------------------------------------------------------------

def test_odl_inspect_tflite(tmp_path, capsys):
    m = small_cnn_model(seed=4, head="mean", float_io=False)
    path = tmp_path / "cnn.tflite"
    path.write_bytes(m.model)
    assert odl_main(["inspect", str(path), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    g = load(path)
    # MACs counted from the tensors' shapes in the file, independently of the IR
    import tflite

    model = tflite.Model.GetRootAsModel(m.model, 0)
    fm = model.Subgraphs(0)
    macs = 0
    for i in range(fm.OperatorsLength()):
        op = fm.Operators(i)
        code = builtin_name(model.OperatorCodes(op.OpcodeIndex()).BuiltinCode())
        ins, outs = op.InputsAsNumpy(), op.OutputsAsNumpy()
        wshape = tuple(fm.Tensors(int(ins[1])).ShapeAsNumpy()) if len(ins) > 1 else ()
        out = int(np.prod(fm.Tensors(int(outs[0])).ShapeAsNumpy()))
        if code == "CONV_2D":
            macs += out * int(np.prod(wshape[1:]))
        elif code == "DEPTHWISE_CONV_2D":
            macs += out * wshape[1] * wshape[2]
        elif code == "FULLY_CONNECTED":
            macs += wshape[0] * wshape[1]
    assert s["totals"]["macs"] == macs
    assert len(s["nodes"]) == len(g.nodes)
    assert odl_main(["inspect", str(path)]) == 0
    assert "depthwise_conv2d+relu6" in capsys.readouterr().out


def test_tflm_arena_bytes():
    m = small_cnn_model(seed=0, head="flatten", float_io=True)
    arena = tflm_arena_bytes(m.model)
    assert isinstance(arena, int) and arena > 0
    assert arena == run_tflm(m.model, np.zeros(m.input_shape, np.float32)).arena_bytes
    # the arena holds at least the two largest simultaneously live activations (conv1's input and output)
    g = from_tflite(m.model)
    assert arena >= g.tensor("model/conv1/Relu").nbytes + g.tensor(g.inputs[0]).nbytes


# ---- generated C (host build) -------------------------------------------------------------------------------

def test_generated_c_logits_equal_tflm():
    """The imported model compiled to C (toolkit.train.lower -> plan -> codegen -> cffi host build): its int8 logits
    equal TFLite Micro's logits (the trailing softmax is dropped by the compiler: programs output logits)."""
    from toolkit.emulate import compile_program
    from toolkit.train.lower import build_program

    m = small_cnn_model(seed=8, head="flatten", float_io=True)
    md = small_cnn_model(seed=8, head="flatten", float_io=True, debug_outputs=True)  # same weights, + logits output
    g = from_tflite(m.model)
    prog = build_program(g, "last-layer", "int8")
    _, hm = compile_program(prog)
    lb = prog.buffers[prog.logits]
    logits_name = "model/dense/MatMul;model/dense/BiasAdd"
    rng = np.random.default_rng(9)
    for _ in range(6):
        x = sample(m, rng)
        want = run_tflm(md.model, x, measure_arena=False).outputs[md.output_names.index(logits_name)]
        got = hm.infer(quantize_input(g, x), lb.dtype, lb.shape)
        np.testing.assert_array_equal(got.reshape(want.shape), want)
