"""toolkit.tflite: the .tflite writer and the reference runners.

The writer is checked three independent ways: (1) the flatbuffer is read back with the `tflite` package's generated
reader (a different code path from the builder), (2) TFLite Micro and LiteRT's reference kernels both accept every
single-op model and agree bit-for-bit, (3) their output matches a float numpy model of the op (dequantize ->
float op -> quantize) to within one quantization step, which catches wrong weight layouts, per-channel axes, bias
scales, padding or option encodings.
"""

import math

import numpy as np
import pytest
import tflite
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import DTypeError, OdlError, ShapeError
from toolkit.tflite import (
    ModelBuilder,
    activation_range_s8,
    add_model,
    conv2d_model,
    conv_output_size,
    depthwise_conv2d_model,
    fully_connected_model,
    mean_model,
    pool2d_model,
    quantize_model,
    reshape_model,
    run_litert,
    run_tflm,
    softmax_model,
)


def rand_s8(rng, shape):
    return rng.integers(-128, 128, size=shape).astype(np.int8)


def agree(model, inputs):
    """TFLM output, after checking that LiteRT's reference kernels accept the model and agree with it.

    Not bit-for-bit: LiteRT's FULLY_CONNECTED reference kernel rounds once (single rounding) where TFLM rounds
    twice, so they may differ by one unit near rounding ties. tests/test_kernels_s8_tflm.py holds each LiteRT kernel
    set to the matching build of odl's kernels bit-for-bit.
    """
    ref = run_tflm(model, inputs)
    lite = run_litert(model, inputs, kernels="reference")
    assert len(ref.outputs) == len(lite) == 1
    assert ref.outputs[0].shape == lite[0].shape and ref.outputs[0].dtype == lite[0].dtype
    assert np.abs(ref.outputs[0].astype(np.int32) - lite[0]).max(initial=0) <= 1
    assert ref.arena_bytes is not None and ref.arena_bytes > 0
    return ref.outputs[0]


def requant_float(y_real, scale, zp, lo=-128, hi=127):
    return np.clip(np.round(y_real / scale) + zp, lo, hi)


def pad_same(x, kh, kw, sh, sw, dh, dw):
    """Zero-pad (in real values) an NHWC array the way TFLite's SAME padding does (extra on the bottom/right)."""
    _, h, w, _ = x.shape
    out_h, out_w = math.ceil(h / sh), math.ceil(w / sw)
    ph = max((out_h - 1) * sh + (kh - 1) * dh + 1 - h, 0)
    pw = max((out_w - 1) * sw + (kw - 1) * dw + 1 - w, 0)
    return np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))


def conv_float(x, w, stride, dilation, padding, depthwise=False, mult=1):
    """Direct float convolution, NHWC x, OHWI w (or 1HWC depthwise w)."""
    kh, kw = w.shape[1:3]
    sh, sw = stride
    dh, dw = dilation
    if padding == "SAME":
        x = pad_same(x, kh, kw, sh, sw, dh, dw)
    _, h, wd, cin = x.shape
    oh = (h - (kh - 1) * dh - 1) // sh + 1
    ow = (wd - (kw - 1) * dw - 1) // sw + 1
    cout = w.shape[3] if depthwise else w.shape[0]
    out = np.zeros((1, oh, ow, cout))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw, :]
            if depthwise:
                out += np.repeat(patch, mult, axis=3) * w[0, i, j, :]
            else:
                out += np.einsum("nhwc,oc->nhwo", patch, w[:, i, j, :])
    return out


# ---------------------------------------------------------------------------------------------------------------
# 1. the flatbuffer, read back with the generated reader


def test_round_trip_through_generated_reader():
    rng = np.random.default_rng(0)
    w = rand_s8(rng, (4, 3, 3, 2))
    bias = rng.integers(-1000, 1000, 4).astype(np.int32)
    w_scales = [0.01, 0.02, 0.03, 0.04]
    b = ModelBuilder(description="test")
    x = b.add_tensor("x", (1, 6, 6, 2), np.int8, scale=0.5, zero_point=-3)
    wt = b.add_tensor("w", w.shape, np.int8, data=w, scale=w_scales, zero_point=0, quantized_dimension=0)
    bt = b.add_tensor("b", (4,), np.int32, data=bias, scale=np.float32(0.5) * np.float32(w_scales), zero_point=0)
    y = b.add_tensor("y", (1, 3, 3, 4), np.int8, scale=0.25, zero_point=7)
    b.add_operator("CONV_2D", [x, wt, bt], [y], {"padding": "SAME", "stride": (2, 2), "dilation": (1, 1),
                                                  "activation": "RELU6"})
    data = b.finish()

    assert data[4:8] == b"TFL3"
    m = tflite.Model.GetRootAsModel(data, 0)
    assert m.Version() == 3
    assert m.Description() == b"test"
    assert m.BuffersLength() == 3 and m.Buffers(0).DataLength() == 0  # sentinel + w + bias
    sg = m.Subgraphs(0)
    assert list(sg.InputsAsNumpy()) == [x] and list(sg.OutputsAsNumpy()) == [y]
    assert sg.TensorsLength() == 4

    tw = sg.Tensors(wt)
    assert tw.Name() == b"w" and tw.Type() == tflite.TensorType.INT8
    assert list(tw.ShapeAsNumpy()) == [4, 3, 3, 2]
    q = tw.Quantization()
    np.testing.assert_array_equal(q.ScaleAsNumpy(), np.float32(w_scales))
    np.testing.assert_array_equal(q.ZeroPointAsNumpy(), [0, 0, 0, 0])
    assert q.QuantizedDimension() == 0
    buf = m.Buffers(tw.Buffer())
    np.testing.assert_array_equal(buf.DataAsNumpy().view(np.int8).reshape(w.shape), w)
    # constant data is 16-byte aligned in the file
    vec_start = buf._tab.Vector(buf._tab.Offset(4))
    assert vec_start % 16 == 0

    tb = sg.Tensors(bt)
    assert tb.Type() == tflite.TensorType.INT32
    np.testing.assert_array_equal(m.Buffers(tb.Buffer()).DataAsNumpy().view("<i4"), bias)
    tx = sg.Tensors(x)
    assert tx.Buffer() == 0
    assert tx.Quantization().ScaleAsNumpy()[0] == np.float32(0.5)
    assert tx.Quantization().ZeroPointAsNumpy()[0] == -3

    assert m.OperatorCodesLength() == 1
    oc = m.OperatorCodes(0)
    assert oc.BuiltinCode() == tflite.BuiltinOperator.CONV_2D
    assert oc.DeprecatedBuiltinCode() == tflite.BuiltinOperator.CONV_2D
    assert oc.Version() == 3
    op = sg.Operators(0)
    assert list(op.InputsAsNumpy()) == [x, wt, bt] and list(op.OutputsAsNumpy()) == [y]
    assert op.BuiltinOptionsType() == tflite.BuiltinOptions.Conv2DOptions
    opts = tflite.Conv2DOptions()
    opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
    assert opts.Padding() == tflite.Padding.SAME
    assert (opts.StrideH(), opts.StrideW()) == (2, 2)
    assert opts.FusedActivationFunction() == tflite.ActivationFunctionType.RELU6


def test_vector_options_omitted_inputs_and_large_opcodes():
    b = ModelBuilder()
    x = b.add_tensor("x", (2, 3), np.int8, scale=0.1, zero_point=0)
    s = b.add_tensor("s", (1,), np.int32, data=np.array([6], np.int32))
    y = b.add_tensor("y", (6,), np.int8, scale=0.1, zero_point=0)
    b.add_operator("RESHAPE", [x, s], [y], {"new_shape": [6]})
    z = b.add_tensor("z", (6,), np.int8, scale=0.1, zero_point=0)
    b.add_operator(tflite.BuiltinOperator.RELU, [y], [z])
    # an op whose code does not fit the deprecated int8 field
    assert tflite.BuiltinOperator.GELU > 127
    g = b.add_tensor("g", (6,), np.int8, scale=0.1, zero_point=0)
    b.add_operator("GELU", [z], [g], {"approximate": True})
    data = b.finish()
    m = tflite.Model.GetRootAsModel(data, 0)
    sg = m.Subgraphs(0)
    assert list(sg.InputsAsNumpy()) == [x] and list(sg.OutputsAsNumpy()) == [g]
    op = sg.Operators(0)
    opts = tflite.ReshapeOptions()
    opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
    assert list(opts.NewShapeAsNumpy()) == [6]
    codes = [(m.OperatorCodes(i).BuiltinCode(), m.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(m.OperatorCodesLength())]
    assert codes == [(tflite.BuiltinOperator.RESHAPE, tflite.BuiltinOperator.RESHAPE),
                     (tflite.BuiltinOperator.RELU, tflite.BuiltinOperator.RELU),
                     (tflite.BuiltinOperator.GELU, 127)]

    fc = ModelBuilder()
    a = fc.add_tensor("a", (1, 4), np.int8, scale=0.1, zero_point=0)
    w = fc.add_tensor("w", (2, 4), np.int8, data=np.ones((2, 4), np.int8), scale=0.1, zero_point=0)
    o = fc.add_tensor("o", (1, 2), np.int8, scale=0.1, zero_point=0)
    fc.add_operator("FULLY_CONNECTED", [a, w, -1], [o])
    op = tflite.Model.GetRootAsModel(fc.finish(), 0).Subgraphs(0).Operators(0)
    assert list(op.InputsAsNumpy()) == [a, w, -1]


def test_builder_rejects_bad_arguments():
    b = ModelBuilder()
    with pytest.raises(DTypeError):
        b.add_tensor("w", (2, 2), np.int8, data=np.zeros((2, 2), np.int16))
    with pytest.raises(ShapeError):
        b.add_tensor("w", (2, 2), np.int8, data=np.zeros((2, 3), np.int8))
    with pytest.raises(ShapeError):
        b.add_tensor("w", (3, 2), np.int8, scale=[0.1, 0.2], zero_point=0, quantized_dimension=0)
    with pytest.raises(ShapeError):
        b.add_tensor("w", (2, 2), np.int8, scale=[0.1, 0.2], zero_point=[0, 0, 0])
    with pytest.raises(DTypeError):
        b.add_tensor("w", (2,), np.complex64)
    x = b.add_tensor("x", (1, 4), np.int8, scale=0.1, zero_point=0)
    y = b.add_tensor("y", (1, 4), np.int8, scale=0.1, zero_point=0)
    with pytest.raises(OdlError, match="unknown TFLite builtin"):
        b.add_operator("NOT_AN_OP", [x], [y])
    with pytest.raises(OdlError, match="out of range"):
        b.add_operator("RELU", [x], [5])
    with pytest.raises(OdlError, match="unknown value"):
        b.add_operator("MAX_POOL_2D", [x], [y], {"padding": "FULL"})
    b.add_operator("SOFTMAX", [x], [y], {"not_a_field": 1})
    with pytest.raises(OdlError, match="no field"):
        b.finish()
    with pytest.raises(OdlError, match="at least one operator"):
        ModelBuilder().finish()


# ---------------------------------------------------------------------------------------------------------------
# 2+3. every single-op model runs in both interpreters, and means what it says


def test_activation_range_s8_hand_values():
    assert activation_range_s8("NONE", 0.1, 3) == (-128, 127)
    assert activation_range_s8("RELU", 0.1, 3) == (3, 127)
    assert activation_range_s8("RELU", 0.1, -128) == (-128, 127)
    # RELU6 with scale 0.05: 6 / 0.05 = 120 -> zp + 120
    assert activation_range_s8("RELU6", 0.05, -100) == (-100, 20)
    assert activation_range_s8("RELU6", 0.05, 10) == (10, 127)
    # halves round away from zero: 6 / 0.75 = 8 exactly; 6 / 1.6 = 3.75 -> 4; 6 / 2.4 = 2.5 -> 3
    assert activation_range_s8("RELU6", 0.75, 0) == (0, 8)
    assert activation_range_s8("RELU6", 1.6, 0) == (0, 4)
    assert activation_range_s8("RELU6", 2.4, 0) == (0, 3)
    assert activation_range_s8(3, 2.4, 0) == (0, 3)  # ActivationFunctionType.RELU6
    assert activation_range_s8("RELU_N1_TO_1", 0.01, 0) == (-100, 100)
    with pytest.raises(OdlError):
        activation_range_s8("TANH", 0.1, 0)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31), relu6=st.booleans(), depthwise=st.booleans())
def test_fused_activation_equals_clamp_with_activation_range(seed, relu6, depthwise):
    """TFLM's fused RELU/RELU6 output equals the un-activated output clamped to activation_range_s8()."""
    rng = np.random.default_rng(seed)
    x = rand_s8(rng, (1, 5, 5, 3))
    out_scale, out_zp = float(rng.uniform(0.005, 0.05)), int(rng.integers(-128, 60))
    act = "RELU6" if relu6 else "RELU"
    if depthwise:
        w = rand_s8(rng, (1, 3, 3, 3))
        make = depthwise_conv2d_model
    else:
        w = rand_s8(rng, (4, 3, 3, 3))
        make = conv2d_model
    bias = rng.integers(-2000, 2000, w.shape[0] if not depthwise else 3).astype(np.int32)
    kw = dict(in_scale=0.05, in_zp=-2, w_scales=rng.uniform(0.002, 0.02, bias.size), out_scale=out_scale,
              out_zp=out_zp)
    plain = agree(make(x.shape, w, bias, **kw), x)
    fused = agree(make(x.shape, w, bias, activation=act, **kw), x)
    lo, hi = activation_range_s8(act, out_scale, out_zp)
    np.testing.assert_array_equal(fused, np.clip(plain, lo, hi))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), h=st.integers(3, 9), w=st.integers(3, 9), cin=st.integers(1, 5),
       cout=st.integers(1, 6), k=st.sampled_from([1, 2, 3]), stride=st.sampled_from([1, 2]),
       dil=st.sampled_from([1, 2]), padding=st.sampled_from(["SAME", "VALID"]))
def test_conv2d_model_matches_float_conv(seed, h, w, cin, cout, k, stride, dil, padding):
    if padding == "VALID" and (k - 1) * dil + 1 > min(h, w):
        return
    rng = np.random.default_rng(seed)
    x = rand_s8(rng, (1, h, w, cin))
    wq = rand_s8(rng, (cout, k, k, cin))
    in_scale, in_zp = 0.05, int(rng.integers(-20, 20))
    w_scales = rng.uniform(0.002, 0.02, cout).astype(np.float32)
    bias = rng.integers(-3000, 3000, cout).astype(np.int32)
    real = conv_float((x.astype(np.float64) - in_zp) * in_scale, wq * w_scales[:, None, None, None].astype(np.float64),
                      (stride, stride), (dil, dil), padding)
    real += bias * (np.float32(in_scale) * w_scales)
    out_scale = float(np.abs(real).max() / 100 + 1e-3)
    out_zp = int(rng.integers(-20, 20))
    y = agree(conv2d_model(x.shape, wq, bias, in_scale=in_scale, in_zp=in_zp, w_scales=w_scales,
                           out_scale=out_scale, out_zp=out_zp, stride=(stride, stride), dilation=(dil, dil),
                           padding=padding), x)
    assert y.shape == (1, conv_output_size(h, k, stride, dil, padding), conv_output_size(w, k, stride, dil, padding),
                       cout)
    assert np.abs(y - requant_float(real, out_scale, out_zp)).max() <= 1


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31), h=st.integers(3, 8), cin=st.integers(1, 5), mult=st.sampled_from([1, 2]),
       stride=st.sampled_from([1, 2]), dil=st.sampled_from([1, 2]), padding=st.sampled_from(["SAME", "VALID"]))
def test_depthwise_model_matches_float_conv(seed, h, cin, mult, stride, dil, padding):
    if padding == "VALID" and 2 * dil + 1 > h:
        return
    rng = np.random.default_rng(seed)
    x = rand_s8(rng, (1, h, h + 1, cin))
    wq = rand_s8(rng, (1, 3, 3, cin * mult))
    in_scale, in_zp = 0.04, int(rng.integers(-20, 20))
    w_scales = rng.uniform(0.002, 0.02, cin * mult).astype(np.float32)
    bias = rng.integers(-3000, 3000, cin * mult).astype(np.int32)
    real = conv_float((x.astype(np.float64) - in_zp) * in_scale, wq * w_scales.astype(np.float64),
                      (stride, stride), (dil, dil), padding, depthwise=True, mult=mult)
    real += bias * (np.float32(in_scale) * w_scales)
    out_scale, out_zp = float(np.abs(real).max() / 100 + 1e-3), int(rng.integers(-20, 20))
    y = agree(depthwise_conv2d_model(x.shape, wq, bias, depth_multiplier=mult, in_scale=in_scale, in_zp=in_zp,
                                     w_scales=w_scales, out_scale=out_scale, out_zp=out_zp, stride=(stride, stride),
                                     dilation=(dil, dil), padding=padding), x)
    assert np.abs(y - requant_float(real, out_scale, out_zp)).max() <= 1


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_fully_connected_model_matches_float(per_channel, with_bias):
    rng = np.random.default_rng(per_channel * 2 + with_bias)
    x = rand_s8(rng, (3, 17))
    wq = rand_s8(rng, (5, 17))
    w_scales = rng.uniform(0.002, 0.02, 5).astype(np.float32) if per_channel else np.float32(0.01)
    bias = rng.integers(-3000, 3000, 5).astype(np.int32) if with_bias else None
    in_zp = 7
    real = ((x.astype(np.float64) - in_zp) * 0.05) @ (wq * np.reshape(w_scales, (-1, 1))).T.astype(np.float64)
    if with_bias:
        real += bias * (np.float32(0.05) * np.float32(w_scales))
    out_scale = float(np.abs(real).max() / 100)
    y = agree(fully_connected_model(x.shape, wq, bias, in_scale=0.05, in_zp=in_zp, w_scales=w_scales,
                                    out_scale=out_scale, out_zp=-5), x)
    assert np.abs(y - requant_float(real, out_scale, -5)).max() <= 1


def test_add_pool_mean_quantize_reshape_softmax_models():
    rng = np.random.default_rng(11)
    # ADD
    a, b = rand_s8(rng, (1, 4, 5, 3)), rand_s8(rng, (1, 4, 5, 3))
    y = agree(add_model(a.shape, a_scale=0.05, a_zp=3, b_scale=0.02, b_zp=-9, out_scale=0.06, out_zp=1), [a, b])
    real = (a.astype(np.float64) - 3) * 0.05 + (b.astype(np.float64) + 9) * 0.02
    assert np.abs(y - requant_float(real, 0.06, 1)).max() <= 1
    # MAX_POOL_2D is exact: padding never wins, shared quantization
    x = rand_s8(rng, (1, 7, 6, 4))
    y = agree(pool2d_model("max", x.shape, pool=(2, 2), stride=(2, 2), padding="VALID", scale=0.1, zero_point=5), x)
    np.testing.assert_array_equal(y, x[:, :6, :6].reshape(1, 3, 2, 3, 2, 4).max(axis=(2, 4)))
    # AVERAGE_POOL_2D SAME averages only the valid cells of each window
    y = agree(pool2d_model("avg", x.shape, pool=(3, 3), stride=(2, 2), padding="SAME", scale=0.1, zero_point=5), x)
    xp = pad_same(x.astype(np.float64), 3, 3, 2, 2, 1, 1)
    cnt = pad_same(np.ones_like(x, dtype=np.float64), 3, 3, 2, 2, 1, 1)
    s = sum(xp[:, i:i + 7:2, j:j + 5:2] for i in range(3) for j in range(3))  # out 4 x 3
    c = sum(cnt[:, i:i + 7:2, j:j + 5:2] for i in range(3) for j in range(3))
    assert np.abs(y - np.round(s / c)).max() <= 1
    # MEAN over H, W with requantization
    y = agree(mean_model(x.shape, in_scale=0.05, in_zp=5, out_scale=0.02, out_zp=-3), x)
    real = ((x.astype(np.float64) - 5) * 0.05).mean(axis=(1, 2), keepdims=True)
    assert y.shape == (1, 1, 1, 4) and np.abs(y - requant_float(real, 0.02, -3)).max() <= 1
    # QUANTIZE int8 -> int8 and float32 -> int8
    y = agree(quantize_model(x.shape, in_scale=0.05, in_zp=5, out_scale=0.07, out_zp=-9), x)
    assert np.abs(y - requant_float((x.astype(np.float64) - 5) * 0.05, 0.07, -9)).max() <= 1
    xf = rng.normal(0, 3, (2, 6)).astype(np.float32)
    y = agree(quantize_model(xf.shape, in_scale=None, in_zp=None, out_scale=0.07, out_zp=-9, in_dtype=np.float32), xf)
    assert np.abs(y - requant_float(xf.astype(np.float64), 0.07, -9)).max() <= 1
    # RESHAPE moves no bytes
    y = agree(reshape_model(x.shape, (1, 7 * 6 * 4), scale=0.1, zero_point=5), x)
    np.testing.assert_array_equal(y, x.reshape(1, -1))
    # SOFTMAX: output quantized with scale 1/256, zero point -128
    xs = rand_s8(rng, (2, 10))
    y = agree(softmax_model(xs.shape, in_scale=0.1, in_zp=4), xs)
    e = np.exp((xs.astype(np.float64) - 4) * 0.1)
    p = e / e.sum(axis=1, keepdims=True)
    assert np.abs(y - requant_float(p, 1 / 256, -128)).max() <= 1


def test_litert_kernel_choices_and_errors():
    rng = np.random.default_rng(5)
    x = rand_s8(rng, (1, 4, 4, 2))
    m = pool2d_model("max", x.shape, pool=(2, 2), stride=(1, 1))
    want = run_tflm(m, x).outputs[0]
    for kernels in ("optimized", "reference", "xnnpack"):
        np.testing.assert_array_equal(run_litert(m, x, kernels=kernels)[0], want)
    with pytest.raises(OdlError):
        run_litert(m, x, kernels="fastest")
    with pytest.raises(OdlError):
        run_litert(b"not a model" * 10, x)
