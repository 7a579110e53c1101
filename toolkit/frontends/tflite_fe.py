"""The .tflite frontend: an int8 TFLite flatbuffer -> an int8 IR Graph (toolkit.ir.graph), weights as data.

    from toolkit.frontends.tflite_fe import from_tflite
    g = from_tflite("model.tflite")          # or the model's bytes

The model's first subgraph is read with the ``tflite`` package (generated schema code). Layouts already match the
IR: activations NHWC (batch 1), conv weights OHWI, depthwise weights 1HWC (depth multiplier = Cout / Cin), fully
connected weights [out, in]. Every tensor of the result carries its TFLite quantization (``Tensor.quant``); the
fixed-point multipliers are derived from those scales by toolkit.quant.params, as TFLite does, so
``toolkit.ir.interp.run_int8`` reproduces the interpreter's integer arithmetic.

What becomes what:

- CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD: ``conv2d``, ``depthwise_conv2d``, ``fully_connected``, ``add``
  with the fused activation (NONE / RELU / RELU6) as the ``activation`` attr; SAME / VALID become the explicit
  ``pad`` (top, bottom, left, right) TFLite computes (interp maps it back to SAME / VALID). A FULLY_CONNECTED on a
  4-D input gets a ``reshape`` to (1, K) first (TFLite flattens implicitly).
- AVERAGE_POOL_2D, MAX_POOL_2D: ``avg_pool2d``, ``max_pool2d`` (+ a ``relu`` / ``relu6`` node for a fused
  activation); MEAN over axes (1, 2): ``global_avg_pool`` (+ ``reshape`` when keep_dims is false).
- RESHAPE (and SQUEEZE): ``reshape`` to the output shape; SOFTMAX: ``softmax`` (attr ``beta``).
- PAD / PADV2 (with the zero point as the value) on the spatial axes, read only by convolutions / depthwise
  convolutions: folded into their ``pad`` attr (interp then pads with the input zero point, which is what PAD
  wrote). The IR has no pad op, so a PAD feeding anything else is an error.
- QUANTIZE (float -> int8) right after a float graph input, DEQUANTIZE (int8 -> float) right before a float graph
  output: removed; the graph input / output is the int8 tensor and ``graph.meta["tflite_io"]`` records the float
  edge (``toolkit.quant.ptq.quantize_input`` / ``dequantize_output`` do TFLite's QUANTIZE / DEQUANTIZE arithmetic).
- Constant subgraphs (SHAPE of a static tensor, STRIDED_SLICE, PACK, CONCATENATION, RESHAPE, SQUEEZE,
  EXPAND_DIMS, CAST on constants, e.g. Keras ``Flatten``'s SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE): evaluated
  at import; they leave no node.

Anything else raises ``UnsupportedTfliteOpError`` naming the builtin operator, its operator index, its output
tensor and the supported list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.errors import OdlError
from toolkit.ir.graph import Graph, Node, Quant, Tensor

SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN",
                 "RESHAPE", "SQUEEZE", "PAD", "PADV2", "SOFTMAX", "QUANTIZE", "DEQUANTIZE")
# evaluated at import when every input is constant (SHAPE: when its input has a static shape)
FOLDABLE_OPS = ("SHAPE", "STRIDED_SLICE", "PACK", "CONCATENATION", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "CAST")

_ACTIVATIONS = {0: "none", 1: "relu", 3: "relu6"}  # ActivationFunctionType -> IR activation
_ACT_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


class UnsupportedTfliteOpError(OdlError):
    """A .tflite operator (or a form of one) the IR cannot represent."""


@dataclass
class _T:
    """A TFLite tensor as read from the file."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    quant: Quant | None
    data: np.ndarray | None


def _np_dtype(tensor_type: int) -> np.dtype:
    import tflite

    table = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
             tflite.TensorType.INT32: np.int32, tflite.TensorType.UINT8: np.uint8,
             tflite.TensorType.INT64: np.int64, tflite.TensorType.BOOL: np.bool_,
             tflite.TensorType.INT16: np.int16, tflite.TensorType.INT8: np.int8,
             tflite.TensorType.FLOAT64: np.float64}
    if tensor_type not in table:
        raise OdlError(f"tensor type {tensor_type} is not supported by the .tflite frontend")
    return np.dtype(table[tensor_type])


def _read_bytes(src) -> tuple[bytes, str]:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src), "model"
    path = Path(src)
    if not path.exists():
        raise OdlError(f"{path}: no such file")
    return path.read_bytes(), path.stem


def _short_name(name: str) -> str:
    """Converter names list every fused op ("seq/conv/Relu;seq/conv/BiasAdd;..."): keep the first."""
    return name.split(";")[0] or "t"


class _Reader:
    def __init__(self, raw: bytes, name: str):
        import tflite

        self.tflite = tflite
        if len(raw) < 8 or raw[4:8] != b"TFL3":
            raise OdlError(f"{name}: not a .tflite flatbuffer (file identifier {raw[4:8]!r}, expected b'TFL3')")
        self.raw = raw
        self.model = tflite.Model.GetRootAsModel(raw, 0)
        if self.model.SubgraphsLength() < 1:
            raise OdlError(f"{name}: the model has no subgraph")
        if self.model.SubgraphsLength() > 1:
            raise OdlError(f"{name}: the model has {self.model.SubgraphsLength()} subgraphs (control flow); the "
                           ".tflite frontend reads single-subgraph models")
        self.sg = self.model.Subgraphs(0)
        self.tensors = [self._tensor(i) for i in range(self.sg.TensorsLength())]

    def _buffer(self, index: int) -> bytes | None:
        if index <= 0 or index >= self.model.BuffersLength():
            return None
        buf = self.model.Buffers(index)
        if buf.Offset() > 1:  # large models: data after the flatbuffer
            return self.raw[buf.Offset():buf.Offset() + buf.Size()]
        if buf.DataLength() == 0:
            return None
        return buf.DataAsNumpy().tobytes()

    def _tensor(self, i: int) -> _T:
        t = self.sg.Tensors(i)
        dtype = _np_dtype(t.Type())
        shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        name = t.Name().decode() if t.Name() else f"t{i}"
        q = t.Quantization()
        quant = None
        if q is not None and q.ScaleLength() > 0:
            scale = [float(s) for s in q.ScaleAsNumpy()]
            zp = [int(z) for z in q.ZeroPointAsNumpy()] if q.ZeroPointLength() else [0] * len(scale)
            if len(zp) == 1 and len(scale) > 1:
                zp = zp * len(scale)
            quant = Quant(scale, zp, int(q.QuantizedDimension()) if len(scale) > 1 else None)
        raw = self._buffer(t.Buffer())
        data = None
        if raw is not None:
            data = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
        return _T(i, name, shape, dtype, quant, data)

    def op_name(self, op) -> str:
        from toolkit.tflite.writer import builtin_name

        oc = self.model.OperatorCodes(op.OpcodeIndex())
        code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
        if code == self.tflite.BuiltinOperator.CUSTOM:
            cc = oc.CustomCode()
            return f"CUSTOM({cc.decode() if cc else '?'})"
        return builtin_name(code)

    def options(self, op, table: str):
        tab = op.BuiltinOptions()
        if tab is None:
            return None
        mod = getattr(self.tflite, table)
        o = mod()
        o.Init(tab.Bytes, tab.Pos)
        return o


def _same_pad(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TFLite SAME padding (leading, trailing) of one axis."""
    out = (size + s - 1) // s
    eff = (k - 1) * d + 1
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _strided_slice(x: np.ndarray, begin, end, strides, o) -> np.ndarray:
    if o.EllipsisMask() or o.NewAxisMask():
        raise OdlError("STRIDED_SLICE with an ellipsis or new-axis mask cannot be folded")
    idx = []
    shrink = []
    for i in range(len(begin)):
        b, e, s = int(begin[i]), int(end[i]), int(strides[i])
        if o.ShrinkAxisMask() >> i & 1:
            idx.append(slice(b, b + 1 if b != -1 else None, 1))
            shrink.append(i)
            continue
        idx.append(slice(None if o.BeginMask() >> i & 1 else b, None if o.EndMask() >> i & 1 else e, s))
    y = x[tuple(idx)]
    return y.reshape([n for i, n in enumerate(y.shape) if i not in shrink]) if shrink else y


class _Importer:
    def __init__(self, raw: bytes, name: str):
        self.r = _Reader(raw, name)
        self.name = re.sub(r"\W", "_", name) or "model"
        self.consts: dict[int, np.ndarray] = {t.index: t.data for t in self.r.tensors if t.data is not None}
        self.names: dict[int, str] = {}
        self.used_names: set[str] = set()
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.alias: dict[int, int] = {}  # tensor index -> index it stands for (removed QUANTIZE / DEQUANTIZE)
        self.pads: dict[int, tuple[int, tuple[int, int, int, int], int]] = {}  # PAD output -> (input, pad, op idx)
        self.io: dict = {}

    # -- naming -------------------------------------------------------------------------------------------------
    def tname(self, index: int) -> str:
        index = self.alias.get(index, index)
        if index not in self.names:
            base = _short_name(self.r.tensors[index].name)
            name = base
            k = 1
            while name in self.used_names:
                name = f"{base}_{k}"
                k += 1
            self.used_names.add(name)
            self.names[index] = name
        return self.names[index]

    def activation_tensor(self, index: int) -> str:
        """The IR name of activation tensor ``index``, created on first use."""
        t = self.r.tensors[self.alias.get(index, index)]
        name = self.tname(t.index)
        if name not in self.tensors:
            if t.dtype != np.int8:
                raise OdlError(f"tensor {t.name!r} is {t.dtype}: the .tflite frontend reads int8 models (float "
                               "edges only through QUANTIZE / DEQUANTIZE)")
            if t.quant is None:
                raise OdlError(f"tensor {t.name!r} has no quantization parameters")
            if len(t.quant.scale) != 1:
                raise OdlError(f"activation {t.name!r} is quantized per channel; TFLite activations are per tensor")
            self.tensors[name] = Tensor(name, self._batch1(t), "int8", "activation", t.quant)
        return name

    def param_tensor(self, index: int, what: str) -> str:
        t = self.r.tensors[index]
        if t.data is None:
            raise OdlError(f"{what}: tensor {t.name!r} is not constant (odl reads weights from the file)")
        if t.dtype not in (np.int8, np.int32):
            raise OdlError(f"{what}: tensor {t.name!r} is {t.dtype}; int8 weights and int32 biases are supported")
        if t.quant is None:
            raise OdlError(f"{what}: tensor {t.name!r} has no quantization parameters")
        name = self.tname(index)
        if name not in self.tensors:
            self.tensors[name] = Tensor(name, t.shape, str(t.dtype), "param", t.quant, np.array(t.data))
        return name

    @staticmethod
    def _batch1(t: _T) -> tuple[int, ...]:
        if t.shape and t.shape[0] != 1:
            raise OdlError(f"tensor {t.name!r} has batch {t.shape[0]}: odl reads batch-1 models")
        return t.shape

    # -- walking --------------------------------------------------------------------------------------------------
    def run(self) -> Graph:
        sg = self.r.sg
        ins = [int(i) for i in sg.InputsAsNumpy()]
        outs = [int(i) for i in sg.OutputsAsNumpy()]
        if len(ins) != 1:
            raise OdlError(f"the model has {len(ins)} inputs; odl reads single-input models")
        ops = [sg.Operators(i) for i in range(sg.OperatorsLength())]
        consumers: dict[int, list[int]] = {}
        for k, op in enumerate(ops):
            for i in op.InputsAsNumpy() if op.InputsLength() else []:
                consumers.setdefault(int(i), []).append(k)
        self.consumers = consumers
        self.graph_outputs = set(outs)
        self.ops = ops
        for op in ops:  # activations get the short names first (weights often share the prefix)
            for o in op.OutputsAsNumpy() if op.OutputsLength() else []:
                self.tname(int(o))
        for k, op in enumerate(ops):
            self.convert(k, op)
        g_in = self.alias.get(ins[0], ins[0])
        graph_in = self.activation_tensor(g_in)
        self.tensors[graph_in].kind = "input"
        graph_outs = []
        for o in outs:
            o2 = self.alias.get(o, o)
            if o2 in self.consts:
                raise OdlError(f"graph output {self.r.tensors[o].name!r} is a constant")
            graph_outs.append(self.activation_tensor(o2))
        for name in graph_outs:
            if self.tensors[name].kind == "activation":
                self.tensors[name].kind = "output"
        t_in = self.r.tensors[g_in]
        if len(t_in.shape) != 4 and len(t_in.shape) != 2:
            raise OdlError(f"input {t_in.name!r} has shape {t_in.shape}; odl reads NHWC (or [1, K]) inputs")
        desc = self.r.model.Description()
        meta = {"framework": "tflite", "precision": "int8", "input_layout": "NHWC" if len(t_in.shape) == 4 else "NC",
                "per_channel": any(t.quant is not None and t.quant.axis is not None
                                   for t in self.tensors.values() if t.kind == "param"),
                "tflite_io": self.io, "tflite_names": {name: self.r.tensors[i].name for i, name in self.names.items()
                                                       if name in self.tensors},
                "tflite_description": desc.decode(errors="replace") if desc else "",
                "tflite_version": int(self.r.model.Version())}
        g = Graph(self.name, self.tensors, self.nodes, [graph_in], graph_outs, meta)
        return g.validate()

    def convert(self, k: int, op) -> None:
        r = self.r
        name = r.op_name(op)
        ins = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(i) for i in op.OutputsAsNumpy()] if op.OutputsLength() else []
        where = f"operator {k} ({name}, output {r.tensors[outs[0]].name!r})" if outs else f"operator {k} ({name})"
        if name in FOLDABLE_OPS and self._fold(k, name, op, ins, outs, where):
            return
        handler = getattr(self, "op_" + name.lower(), None) if name in SUPPORTED_OPS else None
        if handler is None:
            raise UnsupportedTfliteOpError(
                f"unsupported TFLite op {name} at {where}. Supported: {', '.join(SUPPORTED_OPS)} (and constant "
                f"{', '.join(FOLDABLE_OPS)} subgraphs, folded at import)")
        handler(k, op, ins, outs, where)

    def _fold(self, k, name, op, ins, outs, where) -> bool:
        """Evaluate a constant op; False when its inputs are not constant (then it must be a real op)."""
        r = self.r
        data_ins = [i for i in ins if i >= 0]
        if name == "SHAPE":
            shape = r.tensors[self.alias.get(ins[0], ins[0])].shape
            out_t = r.tensors[outs[0]]
            self.consts[outs[0]] = np.asarray(shape, dtype=out_t.dtype)
            return True
        if not all(i in self.consts for i in data_ins):
            return False
        x = [self.consts[i] for i in data_ins]
        out_t = r.tensors[outs[0]]
        if name == "STRIDED_SLICE":
            y = _strided_slice(x[0], x[1], x[2], x[3], r.options(op, "StridedSliceOptions"))
        elif name == "PACK":
            o = r.options(op, "PackOptions")
            y = np.stack([np.asarray(v) for v in x], axis=o.Axis() if o else 0)
        elif name == "CONCATENATION":
            o = r.options(op, "ConcatenationOptions")
            y = np.concatenate([np.atleast_1d(v) for v in x], axis=o.Axis() if o else 0)
        elif name in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"):
            y = np.asarray(x[0]).reshape(out_t.shape)
        elif name == "CAST":
            y = np.asarray(x[0]).astype(out_t.dtype)
        else:  # pragma: no cover
            return False
        self.consts[outs[0]] = np.asarray(y).astype(out_t.dtype)
        return True

    # -- helpers --------------------------------------------------------------------------------------------------
    def _act(self, code: int, where: str) -> str:
        if code not in _ACTIVATIONS:
            raise UnsupportedTfliteOpError(f"{where}: fused activation {_ACT_NAMES.get(code, code)} is not "
                                           "supported (NONE, RELU, RELU6)")
        return _ACTIVATIONS[code]

    def _node(self, k: int, op_name: str, ir_op: str, inputs, out_index: int, attrs, source_extra: str = "") -> str:
        out = self.activation_tensor(out_index)
        src = f"tflite operator {k} {op_name}" + (f" ({source_extra})" if source_extra else "")
        self.nodes.append(Node(out, ir_op, list(inputs), [out], dict(attrs), src))
        return out

    def _input(self, index: int, k: int, where: str) -> tuple[str, tuple[int, int, int, int], str]:
        """(IR input tensor, folded PAD, note) of an activation input; a PAD output resolves to the PAD's input."""
        index = self.alias.get(index, index)
        if index in self.pads:
            src, pad, pk = self.pads[index]
            return self.activation_tensor(src), pad, f"PAD operator {pk} folded"
        if index in self.consts:
            raise OdlError(f"{where}: the data input {self.r.tensors[index].name!r} is a constant")
        return self.activation_tensor(index), (0, 0, 0, 0), ""

    def _window(self, opts, x_shape, kernel, stride, dilation, extra_pad):
        pad_mode = int(opts.Padding())
        pt, pb, pl, pr = extra_pad
        h = x_shape[1] + pt + pb
        w = x_shape[2] + pl + pr
        if pad_mode == self.r.tflite.Padding.SAME:
            st, sb = _same_pad(h, kernel[0], stride[0], dilation[0])
            sl, sr = _same_pad(w, kernel[1], stride[1], dilation[1])
            return (pt + st, pb + sb, pl + sl, pr + sr)
        return extra_pad

    # -- ops ------------------------------------------------------------------------------------------------------
    def op_conv_2d(self, k, op, ins, outs, where):
        o = self.r.options(op, "Conv2DOptions")
        x, extra, note = self._input(ins[0], k, where)
        w = self.param_tensor(ins[1], where)
        wt = self.tensors[w]
        stride = (int(o.StrideH()), int(o.StrideW()))
        dil = (int(o.DilationHFactor()), int(o.DilationWFactor()))
        kernel = tuple(wt.shape[1:3])
        if wt.shape[3] != self.tensors[x].shape[3]:
            raise OdlError(f"{where}: grouped convolution (filter {wt.shape}, input {self.tensors[x].shape}) "
                           "is not supported")
        pad = self._window(o, self.tensors[x].shape, kernel, stride, dil, extra)
        inputs = [x, w] + ([self.param_tensor(ins[2], where)] if len(ins) > 2 and ins[2] >= 0 else [])
        self._node(k, "CONV_2D", "conv2d", inputs, outs[0],
                   {"kernel": kernel, "stride": stride, "dilation": dil, "pad": pad,
                    "activation": self._act(o.FusedActivationFunction(), where)}, note)

    def op_depthwise_conv_2d(self, k, op, ins, outs, where):
        o = self.r.options(op, "DepthwiseConv2DOptions")
        x, extra, note = self._input(ins[0], k, where)
        w = self.param_tensor(ins[1], where)
        wt = self.tensors[w]
        cin = self.tensors[x].shape[3]
        if wt.shape[0] != 1 or wt.shape[3] % cin:
            raise OdlError(f"{where}: depthwise filter {wt.shape} does not fit {cin} input channels")
        stride = (int(o.StrideH()), int(o.StrideW()))
        dil = (int(o.DilationHFactor()), int(o.DilationWFactor()))
        kernel = tuple(wt.shape[1:3])
        pad = self._window(o, self.tensors[x].shape, kernel, stride, dil, extra)
        inputs = [x, w] + ([self.param_tensor(ins[2], where)] if len(ins) > 2 and ins[2] >= 0 else [])
        self._node(k, "DEPTHWISE_CONV_2D", "depthwise_conv2d", inputs, outs[0],
                   {"kernel": kernel, "stride": stride, "dilation": dil, "pad": pad,
                    "activation": self._act(o.FusedActivationFunction(), where),
                    "depth_multiplier": wt.shape[3] // cin}, note)

    def op_fully_connected(self, k, op, ins, outs, where):
        o = self.r.options(op, "FullyConnectedOptions")
        if o is not None and int(o.WeightsFormat()) != 0:
            raise OdlError(f"{where}: shuffled FULLY_CONNECTED weights are not supported")
        x, extra, _ = self._input(ins[0], k, where)
        if any(extra):
            raise OdlError(f"{where}: a PAD feeding FULLY_CONNECTED cannot be folded")
        w = self.param_tensor(ins[1], where)
        nout, kin = self.tensors[w].shape
        xt = self.tensors[x]
        if xt.shape != (1, kin):
            if xt.size != kin:
                raise OdlError(f"{where}: input {xt.shape} does not flatten to the {kin} weight columns")
            flat = f"{x}/flatten"
            self.tensors[flat] = Tensor(flat, (1, kin), "int8", "activation", xt.quant)
            self.nodes.append(Node(flat, "reshape", [x], [flat], {"shape": (1, kin)},
                                   f"tflite operator {k} FULLY_CONNECTED (implicit flatten)"))
            x = flat
        out_t = self.r.tensors[outs[0]]
        if out_t.shape != (1, nout):
            raise OdlError(f"{where}: output shape {out_t.shape}; odl reads FULLY_CONNECTED with output (1, "
                           f"{nout}) (keep_num_dims on a batch-1 2-D input)")
        inputs = [x, w] + ([self.param_tensor(ins[2], where)] if len(ins) > 2 and ins[2] >= 0 else [])
        self._node(k, "FULLY_CONNECTED", "fully_connected", inputs, outs[0],
                   {"activation": self._act(o.FusedActivationFunction() if o else 0, where)})

    def op_add(self, k, op, ins, outs, where):
        o = self.r.options(op, "AddOptions")
        a, pa, _ = self._input(ins[0], k, where)
        b, pb, _ = self._input(ins[1], k, where)
        if any(pa) or any(pb):
            raise OdlError(f"{where}: a PAD feeding ADD cannot be folded")
        if self.tensors[a].shape != self.tensors[b].shape:
            raise UnsupportedTfliteOpError(f"{where}: ADD with broadcasting ({self.tensors[a].shape} + "
                                           f"{self.tensors[b].shape}) is not supported")
        self._node(k, "ADD", "add", [a, b], outs[0],
                   {"activation": self._act(o.FusedActivationFunction() if o else 0, where)})

    def _pool(self, k, op, ins, outs, where, tfl: str, ir: str):
        o = self.r.options(op, "Pool2DOptions")
        x, extra, _ = self._input(ins[0], k, where)
        if any(extra):
            raise OdlError(f"{where}: a PAD feeding {tfl} cannot be folded (the IR has no pad op)")
        kernel = (int(o.FilterHeight()), int(o.FilterWidth()))
        stride = (int(o.StrideH()), int(o.StrideW()))
        pad = self._window(o, self.tensors[x].shape, kernel, stride, (1, 1), (0, 0, 0, 0))
        act = self._act(o.FusedActivationFunction(), where)
        if act == "none":
            self._node(k, tfl, ir, [x], outs[0], {"kernel": kernel, "stride": stride, "pad": pad})
            return
        out = self.activation_tensor(outs[0])
        mid = f"{out}/{ir}"
        self.tensors[mid] = Tensor(mid, self.tensors[out].shape, "int8", "activation", self.tensors[out].quant)
        self.nodes.append(Node(mid, ir, [x], [mid], {"kernel": kernel, "stride": stride, "pad": pad},
                               f"tflite operator {k} {tfl}"))
        self.nodes.append(Node(out, act, [mid], [out], {}, f"tflite operator {k} {tfl} (fused {act.upper()})"))

    def op_average_pool_2d(self, k, op, ins, outs, where):
        self._pool(k, op, ins, outs, where, "AVERAGE_POOL_2D", "avg_pool2d")

    def op_max_pool_2d(self, k, op, ins, outs, where):
        self._pool(k, op, ins, outs, where, "MAX_POOL_2D", "max_pool2d")

    def op_mean(self, k, op, ins, outs, where):
        x, extra, _ = self._input(ins[0], k, where)
        if ins[1] not in self.consts:
            raise OdlError(f"{where}: MEAN axes are not constant")
        xt = self.tensors[x]
        axes = sorted({int(a) % len(xt.shape) for a in np.atleast_1d(self.consts[ins[1]])})
        if len(xt.shape) != 4 or axes != [1, 2] or any(extra):
            raise UnsupportedTfliteOpError(f"{where}: MEAN over axes {axes} of {xt.shape}; odl supports the "
                                           "spatial mean of an NHWC map (axes 1, 2)")
        o = self.r.options(op, "ReducerOptions")
        keep = bool(o.KeepDims()) if o is not None else False
        if keep:
            self._node(k, "MEAN", "global_avg_pool", [x], outs[0], {})
            return
        out = self.activation_tensor(outs[0])
        mid = f"{out}/mean"
        self.tensors[mid] = Tensor(mid, (1, 1, 1, xt.shape[3]), "int8", "activation", self.tensors[out].quant)
        self.nodes.append(Node(mid, "global_avg_pool", [x], [mid], {}, f"tflite operator {k} MEAN"))
        self.nodes.append(Node(out, "reshape", [mid], [out], {"shape": self.tensors[out].shape},
                               f"tflite operator {k} MEAN (keep_dims false)"))

    def op_reshape(self, k, op, ins, outs, where):
        x, extra, _ = self._input(ins[0], k, where)
        if any(extra):
            raise OdlError(f"{where}: a PAD feeding {self.r.op_name(op)} cannot be folded")
        out_t = self.r.tensors[outs[0]]
        shape = out_t.shape
        if len(ins) > 1 and ins[1] >= 0 and ins[1] in self.consts:
            want = [int(s) for s in np.atleast_1d(self.consts[ins[1]])]
            if -1 in want:
                rest = int(np.prod([s for s in want if s != -1])) or 1
                want[want.index(-1)] = self.tensors[x].size // rest
            if tuple(want) != shape:
                raise OdlError(f"{where}: new shape {tuple(want)} differs from the output tensor's {shape}")
        self._node(k, self.r.op_name(op), "reshape", [x], outs[0], {"shape": shape})

    op_squeeze = op_reshape

    def op_softmax(self, k, op, ins, outs, where):
        o = self.r.options(op, "SoftmaxOptions")
        x, extra, _ = self._input(ins[0], k, where)
        if any(extra):
            raise OdlError(f"{where}: a PAD feeding SOFTMAX cannot be folded")
        self._node(k, "SOFTMAX", "softmax", [x], outs[0], {"beta": float(o.Beta()) if o is not None else 1.0})

    def op_pad(self, k, op, ins, outs, where):
        r = self.r
        src = self.alias.get(ins[0], ins[0])
        if src in self.pads:
            raise OdlError(f"{where}: PAD of a PAD is not supported")
        if ins[1] not in self.consts:
            raise OdlError(f"{where}: PAD paddings are not constant")
        p = np.asarray(self.consts[ins[1]]).reshape(-1, 2)
        t_in, t_out = r.tensors[src], r.tensors[outs[0]]
        if p.shape[0] != 4 or p[0].any() or p[3].any():
            raise UnsupportedTfliteOpError(f"{where}: PAD {p.tolist()}; only spatial padding of an NHWC map folds "
                                           "into a convolution")
        if t_in.quant is None or t_out.quant is None or \
                np.float32(t_in.quant.scale[0]) != np.float32(t_out.quant.scale[0]) or \
                t_in.quant.zero_point[0] != t_out.quant.zero_point[0]:
            raise OdlError(f"{where}: PAD with different input and output quantization")
        if len(ins) > 2 and ins[2] >= 0:  # PADV2 constant value
            v = self.consts.get(ins[2])
            if v is None or int(np.asarray(v).reshape(-1)[0]) != int(t_out.quant.zero_point[0]):
                raise UnsupportedTfliteOpError(f"{where}: PADV2 with a value other than the zero point (a real 0) "
                                               "cannot fold into a convolution")
        readers = self.consumers.get(outs[0], [])
        bad = [c for c in readers if r.op_name(self.ops[c]) not in ("CONV_2D", "DEPTHWISE_CONV_2D")
               or int(self.ops[c].InputsAsNumpy()[0]) != outs[0]]
        if outs[0] in self.graph_outputs or bad or not readers:
            what = r.op_name(self.ops[bad[0]]) if bad else "the graph output"
            raise UnsupportedTfliteOpError(f"{where}: PAD read by {what}: the IR has no pad op, so a PAD must feed "
                                           "only convolutions / depthwise convolutions (it is folded into them)")
        self.pads[outs[0]] = (src, (int(p[1, 0]), int(p[1, 1]), int(p[2, 0]), int(p[2, 1])), k)

    op_padv2 = op_pad

    def op_quantize(self, k, op, ins, outs, where):
        t_in, t_out = self.r.tensors[ins[0]], self.r.tensors[outs[0]]
        graph_in = int(self.r.sg.InputsAsNumpy()[0])
        if t_in.dtype != np.float32 or ins[0] != graph_in or t_out.dtype != np.int8:
            raise UnsupportedTfliteOpError(
                f"{where}: QUANTIZE {t_in.dtype} -> {t_out.dtype} inside the graph; odl reads QUANTIZE only as "
                "float32 -> int8 right after the graph input")
        readers = self.consumers.get(ins[0], [])
        if len(readers) != 1:
            raise OdlError(f"{where}: the float input is read by other operators too")
        self.alias[ins[0]] = outs[0]
        self.io["input"] = {"name": t_in.name, "dtype": "float32", "shape": list(t_in.shape),
                            "scale": float(t_out.quant.scale[0]), "zero_point": int(t_out.quant.zero_point[0])}

    def op_dequantize(self, k, op, ins, outs, where):
        t_in, t_out = self.r.tensors[ins[0]], self.r.tensors[outs[0]]
        if t_in.data is not None:
            raise UnsupportedTfliteOpError(f"{where}: DEQUANTIZE of constant {t_in.name!r} (float or float16 "
                                           "weights); odl reads int8 weights")
        if t_out.dtype != np.float32 or outs[0] not in self.graph_outputs or t_in.dtype != np.int8 or \
                self.consumers.get(outs[0]):
            raise UnsupportedTfliteOpError(f"{where}: DEQUANTIZE inside the graph; odl reads DEQUANTIZE only as "
                                           "int8 -> float32 right before a graph output")
        self.alias[outs[0]] = ins[0]
        self.io.setdefault("outputs", []).append(
            {"name": t_out.name, "dtype": "float32", "shape": list(t_out.shape),
             "scale": float(t_in.quant.scale[0]), "zero_point": int(t_in.quant.zero_point[0])})


def from_tflite(src, name: str | None = None) -> Graph:
    """An int8 Graph from a .tflite file path or the model's bytes (see the module docstring)."""
    raw, stem = _read_bytes(src)
    imp = _Importer(raw, name or stem)
    return imp.run()


def tflm_arena_bytes(src) -> int | None:
    """The arena TFLite Micro allocates for the model (its RecordingMicroAllocator total), running it once on a zero
    input: the number odl's planner is compared against."""
    from toolkit.tflite.reference import run_tflm

    raw, _ = _read_bytes(src)
    r = _Reader(raw, "model")
    t = r.tensors[int(r.sg.InputsAsNumpy()[0])]
    return run_tflm(raw, np.zeros(t.shape, dtype=t.dtype)).arena_bytes


__all__ = ["from_tflite", "tflm_arena_bytes", "UnsupportedTfliteOpError", "SUPPORTED_OPS", "FOLDABLE_OPS"]
