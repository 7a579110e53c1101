"""Multi-op int8 .tflite test models shaped like TensorFlow converter output, built without TensorFlow.

``small_cnn_model(...)`` writes a small CNN the way the converter lays one out: (optionally) a float32 input with a
QUANTIZE and a DEQUANTIZE at the edges, convolutions with per-channel int8 weights and int32 biases whose scales are
``float32(s_in * s_w[c])``, fused RELU / RELU6, SAME and VALID padding, strides 1 and 2, a PAD before a VALID conv
(what the converter emits for explicit paddings), a residual ADD, pools sharing their input's quantization, MEAN,
Keras ``Flatten`` as SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE, FULLY_CONNECTED and SOFTMAX (scale 1/256, zero
point -128). Weights and scales are random (``seed``); output scales are chosen from the accumulators' expected
spread so activations use the int8 range without saturating everywhere.

``debug_outputs=True`` also lists every intermediate int8 activation as a subgraph output (after the model's own
outputs), so a reference interpreter reports each of them: ``SmallCnn.tensor_names`` gives their names in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from toolkit.tflite.writer import ModelBuilder, conv_output_size


@dataclass
class SmallCnn:
    model: bytes
    input_shape: tuple[int, ...]
    input_dtype: np.dtype
    output_names: list[str] = field(default_factory=list)  # subgraph outputs, in order (debug outputs included)


class _Net:
    """Adds converter-like int8 layers to a ModelBuilder, tracking each activation's quantization."""

    def __init__(self, b: ModelBuilder, rng: np.random.Generator):
        self.b, self.rng = b, rng
        self.q: dict[int, tuple[float, int]] = {}
        self.shape: dict[int, tuple[int, ...]] = {}
        self.acts: list[int] = []
        self.names: dict[int, str] = {}

    def act(self, name, shape, scale, zp) -> int:
        i = self.b.add_tensor(name, shape, np.int8, scale=float(np.float32(scale)), zero_point=int(zp))
        self.q[i], self.shape[i], self.names[i] = (float(np.float32(scale)), int(zp)), tuple(shape), name
        self.acts.append(i)
        return i

    def _out_q(self, spread: float, activation: str) -> tuple[float, int]:
        # converter-like: relu outputs start at zero (zero point -128); others centred with a random offset
        if activation in ("RELU", "RELU6"):
            scale = spread / 64.0
            if activation == "RELU6":
                scale = min(scale, 6.0 / 255.0 * 1.5)
            return scale, -128
        return spread / 40.0, int(self.rng.integers(-20, 21))

    def conv(self, name, x, cout, k, stride, padding, activation, depthwise=False, mult=1):
        n, h, w, cin = self.shape[x]
        s_in, _ = self.q[x]
        if depthwise:
            cout = cin * mult
            wq = self.rng.integers(-127, 128, size=(1, k, k, cout), dtype=np.int8)
            fan = k * k
        else:
            wq = self.rng.integers(-127, 128, size=(cout, k, k, cin), dtype=np.int8)
            fan = k * k * cin
        wq.reshape(-1)[:cout] = 127  # each channel reaches +-127 like symmetric quantization
        w_scales = (self.rng.uniform(0.5, 2.0, size=cout) * 0.01).astype(np.float32)
        b_scales = (np.float32(s_in) * w_scales).astype(np.float32)
        bias = self.rng.integers(-3000, 3000, size=cout).astype(np.int32)
        spread = s_in * float(w_scales.mean()) * 74.0 * 73.0 * np.sqrt(fan)
        os, ozp = self._out_q(spread, activation)
        oh = conv_output_size(h, k, stride, 1, padding)
        ow = conv_output_size(w, k, stride, 1, padding)
        wt = self.b.add_tensor(f"{name}/filter", wq.shape, np.int8, data=wq, scale=w_scales, zero_point=0,
                               quantized_dimension=3 if depthwise else 0)
        bt = self.b.add_tensor(f"{name}/bias", (cout,), np.int32, data=bias, scale=b_scales, zero_point=0,
                               quantized_dimension=0)
        y = self.act(f"{name};{name}/BiasAdd", (n, oh, ow, cout), os, ozp)
        opts = {"padding": padding, "stride": (stride, stride), "activation": activation}
        if depthwise:
            opts["depth_multiplier"] = mult
        self.b.add_operator("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [x, wt, bt], [y], opts)
        return y

    def pad(self, name, x, p):
        n, h, w, c = self.shape[x]
        s, zp = self.q[x]
        pt = self.b.add_tensor(f"{name}/paddings", (4, 2), np.int32,
                               data=np.asarray([[0, 0], [p, p], [p, p], [0, 0]], np.int32))
        y = self.act(name, (n, h + 2 * p, w + 2 * p, c), s, zp)
        self.b.add_operator("PAD", [x, pt], [y])
        self.acts.remove(y)  # read by the next conv only: odl folds it (never a debug output)
        return y

    def add(self, name, a, c, activation="NONE"):
        sa, _ = self.q[a]
        sc, _ = self.q[c]
        os, ozp = self._out_q(max(sa, sc) * 60.0 * 1.4, activation)
        y = self.act(name, self.shape[a], os, ozp)
        self.b.add_operator("ADD", [a, c], [y], {"activation": activation})
        return y

    def pool(self, kind, name, x, k, stride, padding):
        n, h, w, c = self.shape[x]
        s, zp = self.q[x]
        y = self.act(name, (n, conv_output_size(h, k, stride, 1, padding),
                            conv_output_size(w, k, stride, 1, padding), c), s, zp)
        self.b.add_operator("AVERAGE_POOL_2D" if kind == "avg" else "MAX_POOL_2D", [x], [y],
                            {"padding": padding, "stride": (stride, stride), "filter": (k, k)})
        return y

    def mean(self, name, x, keep_dims):
        n, h, w, c = self.shape[x]
        s, zp = self.q[x]
        ax = self.b.add_tensor(f"{name}/reduction_indices", (2,), np.int32, data=np.asarray([1, 2], np.int32))
        y = self.act(name, (n, 1, 1, c) if keep_dims else (n, c), s * 0.7, int(self.rng.integers(-10, 11)))
        self.b.add_operator("MEAN", [x, ax], [y], {"keep_dims": keep_dims})
        return y

    def keras_flatten(self, name, x):
        """SHAPE -> STRIDED_SLICE (batch) -> PACK [batch, -1] -> RESHAPE, as the converter writes Flatten."""
        b = self.b
        shp = self.shape[x]
        t_shape = b.add_tensor(f"{name}/Shape", (len(shp),), np.int32)
        b.add_operator("SHAPE", [x], [t_shape], {"out_type": 2})  # TensorType.INT32
        begin = b.add_tensor(f"{name}/strided_slice/stack", (1,), np.int32, data=np.asarray([0], np.int32))
        end = b.add_tensor(f"{name}/strided_slice/stack_1", (1,), np.int32, data=np.asarray([1], np.int32))
        strides = b.add_tensor(f"{name}/strided_slice/stack_2", (1,), np.int32, data=np.asarray([1], np.int32))
        batch = b.add_tensor(f"{name}/strided_slice", (), np.int32)
        b.add_operator("STRIDED_SLICE", [t_shape, begin, end, strides], [batch], {"shrink_axis_mask": 1})
        minus1 = b.add_tensor(f"{name}/Reshape/shape/1", (), np.int32, data=np.asarray(-1, np.int32))
        packed = b.add_tensor(f"{name}/Reshape/shape", (2,), np.int32)
        b.add_operator("PACK", [batch, minus1], [packed], {"values_count": 2, "axis": 0})
        s, zp = self.q[x]
        y = self.act(f"{name}/Reshape", (shp[0], int(np.prod(shp[1:]))), s, zp)
        b.add_operator("RESHAPE", [x, packed], [y])
        return y

    def dense(self, name, x, nout, activation="NONE", logit_spread=None):
        _, k = self.shape[x]
        s_in, _ = self.q[x]
        wq = self.rng.integers(-127, 128, size=(nout, k), dtype=np.int8)
        w_scales = (self.rng.uniform(0.5, 2.0, size=nout) * 0.01).astype(np.float32)
        if logit_spread is not None:  # logits spread ~logit_spread in real units (a softmax that is not one-hot)
            w_scales = (w_scales * (logit_spread / (s_in * float(w_scales.mean()) * 74.0 * 73.0 * np.sqrt(k))))
            w_scales = w_scales.astype(np.float32)
        bias = self.rng.integers(-3000, 3000, size=nout).astype(np.int32)
        os, ozp = self._out_q(s_in * float(w_scales.mean()) * 74.0 * 73.0 * np.sqrt(k), activation)
        wt = self.b.add_tensor(f"{name}/MatMul", wq.shape, np.int8, data=wq, scale=w_scales, zero_point=0,
                               quantized_dimension=0)
        bt = self.b.add_tensor(f"{name}/BiasAdd/ReadVariableOp", (nout,), np.int32, data=bias,
                               scale=(np.float32(s_in) * w_scales).astype(np.float32), zero_point=0,
                               quantized_dimension=0)
        y = self.act(f"{name}/MatMul;{name}/BiasAdd", (1, nout), os, ozp)
        self.b.add_operator("FULLY_CONNECTED", [x, wt, bt], [y], {"activation": activation})
        return y

    def softmax(self, name, x):
        y = self.act(name, self.shape[x], 1.0 / 256.0, -128)
        self.b.add_operator("SOFTMAX", [x], [y], {"beta": 1.0})
        return y


def small_cnn_model(seed: int = 0, hw: tuple[int, int] = (12, 12), cin: int = 3, width: int = 8,
                    classes: int = 10, head: str = "flatten", float_io: bool = True, softmax: bool = True,
                    debug_outputs: bool = False) -> SmallCnn:
    """A converter-shaped int8 CNN (see the module docstring). ``head``: "flatten" (pools + Keras Flatten + FC) or
    "mean" (MEAN over H, W without keep_dims + FC)."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder(description="odl small_cnn_model (converter-shaped)", subgraph_name="main")
    net = _Net(b, rng)
    h, w = hw
    in_scale, in_zp = float(np.float32(rng.uniform(0.01, 0.03))), int(rng.integers(-10, 11))
    if float_io:
        xf = b.add_tensor("serving_default_input:0", (1, h, w, cin), np.float32)
        x = net.act("serving_default_input:0_int8", (1, h, w, cin), in_scale, in_zp)
        b.add_operator("QUANTIZE", [xf], [x])
        inputs = [xf]
    else:
        x = net.act("serving_default_input:0", (1, h, w, cin), in_scale, in_zp)
        inputs = [x]
    net.acts.remove(x)
    c1 = net.conv("model/conv1/Relu", x, width, 3, 1, "SAME", "RELU")
    d1 = net.conv("model/dw1/Relu6", c1, 0, 3, 2, "VALID", "RELU6", depthwise=True)
    p1 = net.conv("model/pw1", d1, width, 1, 1, "VALID", "NONE")
    a1 = net.add("model/add/Relu", d1, p1, "RELU")
    padded = net.pad("model/pad", a1, 1)
    c2 = net.conv("model/conv2", padded, 2 * width, 3, 2, "VALID", "NONE")
    c3 = net.conv("model/dw2", c2, 0, 3, 1, "SAME", "RELU", depthwise=True, mult=2)
    if head == "flatten":
        ap = net.pool("avg", "model/avg_pool", c3, 2, 1, "SAME")
        mp = net.pool("max", "model/max_pool", ap, 2, 2, "VALID")
        flat = net.keras_flatten("model/flatten", mp)
    elif head == "mean":
        ap = net.pool("avg", "model/avg_pool", c3, 2, 1, "VALID")
        flat = net.mean("model/global_average_pooling2d/Mean", ap, keep_dims=False)
    else:
        raise ValueError(f"head must be 'flatten' or 'mean', got {head!r}")
    logits = net.dense("model/dense", flat, classes, logit_spread=3.0)
    out = net.softmax("model/softmax/Softmax", logits) if softmax else logits
    names = []
    if float_io:
        yf = b.add_tensor("StatefulPartitionedCall:0", net.shape[out], np.float32)
        b.add_operator("DEQUANTIZE", [out], [yf])
        outputs = [yf]
        names.append("StatefulPartitionedCall:0")
    else:
        outputs = [out]
        names.append(net.names[out])
    if debug_outputs:
        for i in net.acts:
            if i != out and i not in outputs:
                outputs.append(i)
                names.append(net.names[i])
    model = b.finish(inputs=inputs, outputs=outputs)
    return SmallCnn(model, (1, h, w, cin), np.dtype(np.float32 if float_io else np.int8), names)
