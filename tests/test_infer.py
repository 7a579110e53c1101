"""`odl infer` / toolkit.infer: imported .tflite models run as generated C (host through cffi, and an emulated board)
give TFLite Micro's outputs bit for bit (int8 edges, float edges, softmax included); the CLI's .npy / .npz stacking
and its errors; the inference memory plan next to TFLM's arena."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.cli import main
from toolkit.errors import DTypeError, OdlError, ShapeError
from toolkit.tflite import run_tflm
from toolkit.tflite.models import small_cnn_model

# converter-shaped CNNs: conv SAME s1 + RELU, depthwise VALID s2 + RELU6, residual ADD, PAD + conv VALID s2,
# depthwise SAME x2 + RELU, pools SAME/VALID, Keras Flatten or MEAN, FC, SOFTMAX; per-channel weights
MODELS = [
    dict(seed=11, hw=(12, 12), cin=3, width=8, head="flatten", float_io=True),
    dict(seed=12, hw=(13, 11), cin=2, width=6, head="mean", float_io=False),
    dict(seed=13, hw=(16, 16), cin=1, width=4, head="flatten", float_io=False, softmax=False),
    dict(seed=14, hw=(10, 15), cin=4, width=8, head="mean", float_io=True),
]


def samples(m, n: int, rng) -> np.ndarray:
    if m.input_dtype == np.float32:
        return rng.uniform(-1.5, 1.5, (n,) + m.input_shape).astype(np.float32)
    return rng.integers(-128, 128, (n,) + m.input_shape).astype(np.int8)


def tflm(m, xs) -> np.ndarray:
    return np.stack([run_tflm(m.model, x, measure_arena=False).outputs[0] for x in xs])


@pytest.fixture(scope="module")
def host_models():
    from toolkit.infer import load_models

    ms = [small_cnn_model(**kw) for kw in MODELS]
    return ms, load_models([m.model for m in ms])  # one host build for all of them


def test_host_outputs_equal_tflm(host_models):
    ms, ims = host_models
    rng = np.random.default_rng(5)
    for m, im in zip(ms, ims):
        assert hasattr(im.host.lib, "odl_softmax_s8")  # the host softmax is the C kernel of the model's build
        xs = samples(m, 5, rng)
        want = tflm(m, xs)
        got = im.run(xs)                         # a stack along a new leading axis
        assert got.dtype == want.dtype == m.input_dtype  # float edges: float32 out; int8 model: int8 out
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        one = im.run(xs[0])                      # one input shaped as the model's input
        assert one.shape == want[0].shape
        np.testing.assert_array_equal(one, want[0])
        batch = im.run(xs[:, 0])                 # a stack along the batch axis of the batch-1 model
        np.testing.assert_array_equal(batch, want[:, 0])


def test_saturated_and_constant_inputs_equal_tflm(host_models):
    ms, ims = host_models
    for m, im in zip(ms, ims):
        if m.input_dtype == np.float32:
            xs = np.stack([np.full(m.input_shape, v, np.float32) for v in (-100.0, 0.0, 100.0)])
        else:
            xs = np.stack([np.full(m.input_shape, v, np.int8) for v in (-128, 0, 127)])
        np.testing.assert_array_equal(im.run(xs), tflm(m, xs))


def test_input_errors(host_models):
    ms, ims = host_models
    float_m, int_m = ims[0], ims[1]
    with pytest.raises(DTypeError, match="int8"):
        int_m.run(np.zeros(ms[1].input_shape, np.float32))
    with pytest.raises(DTypeError, match="float32"):
        float_m.run(np.zeros(ms[0].input_shape, np.int32))
    with pytest.raises(ShapeError, match=r"\(1, 12, 12, 3\)"):
        float_m.run(np.zeros((1, 12, 12, 4), np.float32))
    with pytest.raises(ShapeError, match="stack"):
        float_m.run(np.zeros((2, 2, 12, 12, 3), np.float32))


def test_cli_npy_and_npz(host_models, tmp_path, capsys):
    m = small_cnn_model(**MODELS[0])
    path = tmp_path / "model.tflite"
    path.write_bytes(m.model)
    rng = np.random.default_rng(8)
    xs = samples(m, 3, rng)
    want = tflm(m, xs)
    # one input -> one output
    np.save(tmp_path / "one.npy", xs[0])
    assert main(["infer", str(path), "--input", str(tmp_path / "one.npy"), "--output", str(tmp_path / "y1.npy"),
                 "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["input"] == {"shape": [1, 12, 12, 3], "dtype": "float32"}
    assert info["output"] == {"shape": [1, 10], "dtype": "float32"} and info["samples"] == 1
    np.testing.assert_array_equal(np.load(tmp_path / "y1.npy"), want[0])
    # a stack -> stacked outputs
    np.save(tmp_path / "stack.npy", xs)
    assert main(["infer", str(path), "--input", str(tmp_path / "stack.npy"), "--output",
                 str(tmp_path / "y2.npy")]) == 0
    assert "ran 3 input(s) on host" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(tmp_path / "y2.npy"), want)
    # .npz: arrays run in file order (one single input, then a stack of two)
    np.savez(tmp_path / "x.npz", first=xs[2], rest=xs[:2])
    assert main(["infer", str(path), "--input", str(tmp_path / "x.npz"), "--output", str(tmp_path / "y3.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y3.npy"), want[[2, 0, 1]])
    # errors: exit 1 with a clear message
    np.save(tmp_path / "bad.npy", np.zeros((1, 12, 12, 3), np.int16))
    assert main(["infer", str(path), "--input", str(tmp_path / "bad.npy"), "--output", str(tmp_path / "e.npy")]) == 1
    assert "float32" in capsys.readouterr().err
    np.save(tmp_path / "bad2.npy", np.zeros((3, 12, 3), np.float32))
    assert main(["infer", str(path), "--input", str(tmp_path / "bad2.npy"), "--output", str(tmp_path / "e.npy")]) == 1
    assert "(1, 12, 12, 3)" in capsys.readouterr().err
    assert main(["infer", str(path), "--input", str(tmp_path / "missing.npy"), "--output",
                 str(tmp_path / "e.npy")]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert main(["infer", str(path), "--input", str(tmp_path / "junk.npz"), "--output",
                 str(tmp_path / "e.npy")]) == 1
    assert "not a readable" in capsys.readouterr().err
    assert main(["infer", str(path)]) == 1
    assert "--input" in capsys.readouterr().err


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.parametrize("board", ["qemu-cm4", "qemu-cm7", "qemu-cm55", "qemu-rv32"])
def test_board_outputs_equal_tflm(board):
    """The model as firmware on every emulated board (Cortex-M4 / M7 with DSP, M55 with MVE, RV32 with RVV; QEMU),
    samples over the serial link in EVAL messages: TFLM's outputs bit for bit."""
    from toolkit.infer import load_model

    m = small_cnn_model(**MODELS[1])
    xs = samples(m, 4, np.random.default_rng(21))
    with load_model(m.model, board=board) as im:
        got = im.run(xs)
    np.testing.assert_array_equal(got, tflm(m, xs))


def test_unknown_board_is_refused():
    from toolkit.infer import load_model

    with pytest.raises(OdlError, match="no-such-board"):
        load_model(small_cnn_model(**MODELS[1]).model, board="no-such-board")


def test_memory_plan_below_tflm_arena(tmp_path, capsys):
    """odl's inference plan (activations + io) is below TFLM's arena for the test models; the numbers are the
    planner's and TFLM's own."""
    from toolkit.frontends.tflite_fe import tflm_arena_bytes

    for kw in MODELS[:2]:
        m = small_cnn_model(**kw)
        path = tmp_path / f"m{kw['seed']}.tflite"
        path.write_bytes(m.model)
        assert main(["infer", str(path), "--memory", "--json"]) == 0
        r = json.loads(capsys.readouterr().out)
        assert r["tflm_arena"] == tflm_arena_bytes(m.model)
        assert r["arena_plus_io"] == r["arena"] + r["io"] < r["tflm_arena"]
        # the arena holds at least the largest live pair of activations of the first layer
        assert r["arena"] >= int(np.prod(kw["hw"])) * kw["width"]


def test_odl_plan_infer_shows_tflm_arena(tmp_path, capsys):
    """`odl plan model.tflite --mode infer` reports TFLM's arena for the same model next to odl's plan."""
    from toolkit.frontends.tflite_fe import tflm_arena_bytes

    m = small_cnn_model(**MODELS[0])
    path = tmp_path / "m.tflite"
    path.write_bytes(m.model)
    assert main(["plan", str(path), "--board", "qemu-cm4", "--mode", "infer", "--precision", "int8", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["tflm_arena_bytes"] == tflm_arena_bytes(m.model)
    assert r["peak_sram_bytes"] > 0 and r["fits"] is True
    assert main(["plan", str(path), "--board", "qemu-cm4", "--mode", "infer", "--precision", "int8"]) == 0
    assert f"TFLite Micro arena for the same model: {r['tflm_arena_bytes']} B" in capsys.readouterr().out


# ---- the C int8 softmax kernel (csrc/kernels/ref/s8_softmax.c) vs TFLite Micro's SOFTMAX ---------------------

@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 3), n=st.integers(1, 40), log_scale=st.floats(-3.0, 0.7),
       beta=st.sampled_from([0.5, 1.0, 2.0]), flat=st.booleans())
def test_softmax_s8_kernel_equals_tflm(seed, rows, n, log_scale, beta, flat):
    from toolkit.infer import softmax_s8_c
    from toolkit.tflite import softmax_model

    rng = np.random.default_rng(seed)
    scale = float(np.float32(10.0 ** log_scale))
    x = (np.full((rows, n), rng.integers(-128, 128), np.int8) if flat
         else rng.integers(-128, 128, (rows, n)).astype(np.int8))
    want = run_tflm(softmax_model((rows, n), in_scale=scale, in_zp=int(rng.integers(-20, 21)), beta=beta), x,
                    measure_arena=False).outputs[0]
    np.testing.assert_array_equal(softmax_s8_c(x, scale, beta), want)


def test_softmax_s8_kernel_in_place_and_errors():
    from toolkit.host import get_lib
    from toolkit.infer import softmax_s8_c
    from toolkit.tflite.softmax_ref import softmax_params

    x = np.array([[5, -3, 100, 100, -128]], np.int8)
    want = softmax_s8_c(x, 0.05)
    ffi, lib = get_lib()
    buf = x.copy()
    p = ffi.cast("int8_t *", ffi.from_buffer(buf))
    mult, shift, dmin = softmax_params(0.05)
    assert lib.odl_softmax_s8(p, 1, 5, mult, shift, dmin, p) == 0  # x and y alias
    np.testing.assert_array_equal(buf, want)
    assert lib.odl_softmax_s8(p, 0, 5, mult, shift, dmin, p) == -1
    assert lib.odl_softmax_s8(ffi.NULL, 1, 5, mult, shift, dmin, p) == -1
    with pytest.raises(DTypeError):
        softmax_s8_c(x.astype(np.int16), 0.05)
