"""Write .tflite flatbuffers from numpy arrays, without TensorFlow.

``ModelBuilder`` assembles one subgraph: tensors (constant or not, optionally quantized per tensor or per channel)
and builtin operators with their options. ``finish()`` returns the model as bytes, laid out like converter
output: buffer 0 is the empty sentinel, every constant tensor has its own 16-byte aligned buffer, operator codes
carry both the deprecated int8 code and the int32 code, and the file identifier is ``TFL3``.

Options are given as a dict of schema field names (snake_case, as in schema.fbs), with a few shorthands::

    b = ModelBuilder()
    x = b.add_tensor("x", (1, 8, 8, 3), np.int8, scale=0.05, zero_point=-3)
    w = b.add_tensor("w", (4, 3, 3, 3), np.int8, data=w_q, scale=w_scales, zero_point=0, quantized_dimension=0)
    y = b.add_tensor("y", (1, 8, 8, 4), np.int8, scale=0.1, zero_point=5)
    b.add_operator("CONV_2D", [x, w, -1], [y], {"padding": "SAME", "stride": (1, 1), "activation": "RELU"})
    model = b.finish()

Shorthands: ``stride=(h, w)``, ``dilation=(h, w)``, ``filter=(h, w)`` (pooling window), ``activation=...`` for
``fused_activation_function``. Enum-valued fields accept their schema names ("SAME", "RELU6", ...). An input index of
-1 marks an omitted optional input (e.g. no bias), as in TFLite.

The generated schema code of the ``tflite`` package (tflite.Conv2DOptions, ...) does the encoding, so any builtin
operator of that schema can be written; ``DEFAULT_VERSIONS`` gives the int8 versions the converter assigns to the
common ops.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field

import flatbuffers
import numpy as np
import tflite

from toolkit.errors import DTypeError, OdlError, ShapeError

# numpy dtype -> tflite TensorType
TENSOR_TYPES = {
    np.dtype(np.float32): tflite.TensorType.FLOAT32,
    np.dtype(np.float16): tflite.TensorType.FLOAT16,
    np.dtype(np.int32): tflite.TensorType.INT32,
    np.dtype(np.uint8): tflite.TensorType.UINT8,
    np.dtype(np.int64): tflite.TensorType.INT64,
    np.dtype(np.bool_): tflite.TensorType.BOOL,
    np.dtype(np.int16): tflite.TensorType.INT16,
    np.dtype(np.int8): tflite.TensorType.INT8,
    np.dtype(np.float64): tflite.TensorType.FLOAT64,
}

# builtin operator -> name of its options table (ops missing here write no options)
OPTIONS_TABLE = {
    "CONV_2D": "Conv2DOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions",
    "ADD": "AddOptions",
    "SUB": "SubOptions",
    "MUL": "MulOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "L2_POOL_2D": "Pool2DOptions",
    "MEAN": "ReducerOptions",
    "SUM": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions",
    "QUANTIZE": "QuantizeOptions",
    "DEQUANTIZE": "DequantizeOptions",
    "RESHAPE": "ReshapeOptions",
    "SOFTMAX": "SoftmaxOptions",
    "CONCATENATION": "ConcatenationOptions",
    "PAD": "PadOptions",
    "PADV2": "PadV2Options",
    "TRANSPOSE": "TransposeOptions",
    "SQUEEZE": "SqueezeOptions",
    "STRIDED_SLICE": "StridedSliceOptions",
    "LEAKY_RELU": "LeakyReluOptions",
    "HARD_SWISH": "HardSwishOptions",
    "BATCH_MATMUL": "BatchMatMulOptions",
}

# version the converter assigns to the int8 form of each op (LiteRT checks that a kernel of that version exists)
DEFAULT_VERSIONS = {
    "CONV_2D": 3,
    "DEPTHWISE_CONV_2D": 3,
    "FULLY_CONNECTED": 4,
    "ADD": 2,
    "SUB": 2,
    "MUL": 2,
    "AVERAGE_POOL_2D": 2,
    "MAX_POOL_2D": 2,
    "MEAN": 2,
    "QUANTIZE": 2,
    "DEQUANTIZE": 2,
    "RESHAPE": 1,
    "SOFTMAX": 2,
    "CONCATENATION": 2,
    "PAD": 2,
}

# option fields whose values are schema enums, by field name
_ENUM_FIELDS = {
    "padding": tflite.Padding,
    "fused_activation_function": tflite.ActivationFunctionType,
    "weights_format": tflite.FullyConnectedOptionsWeightsFormat,
}

_SHORTHANDS = {
    "stride": ("stride_h", "stride_w"),
    "dilation": ("dilation_h_factor", "dilation_w_factor"),
    "filter": ("filter_height", "filter_width"),
}


def builtin_code(opcode) -> int:
    """The BuiltinOperator number of an op given by name ("CONV_2D") or number."""
    if isinstance(opcode, str):
        code = getattr(tflite.BuiltinOperator, opcode.upper(), None)
        if code is None:
            raise OdlError(f"unknown TFLite builtin operator {opcode!r}")
        return int(code)
    return int(opcode)


def builtin_name(code: int) -> str:
    """The schema name of a BuiltinOperator number."""
    for name, value in vars(tflite.BuiltinOperator).items():
        if not name.startswith("_") and value == code:
            return name
    raise OdlError(f"unknown TFLite builtin operator code {code}")


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _normalise_options(options: dict | None) -> dict:
    out = {}
    for key, value in (options or {}).items():
        if key in _SHORTHANDS:
            h, w = (value, value) if np.isscalar(value) else value
            out[_SHORTHANDS[key][0]], out[_SHORTHANDS[key][1]] = int(h), int(w)
        elif key == "activation":
            out["fused_activation_function"] = value
        else:
            out[key] = value
    for key, enum in _ENUM_FIELDS.items():
        value = out.get(key)
        if isinstance(value, str):
            if value is None or not hasattr(enum, value.upper()):
                raise OdlError(f"option {key}: unknown value {value!r}")
            out[key] = int(getattr(enum, value.upper()))
    return out


@dataclass
class _Tensor:
    name: str
    shape: tuple
    dtype: np.dtype
    data: np.ndarray | None
    scale: np.ndarray | None
    zero_point: np.ndarray | None
    quantized_dimension: int
    is_variable: bool = False


@dataclass
class _Operator:
    code: int
    version: int
    inputs: list
    outputs: list
    options: dict = field(default_factory=dict)


class ModelBuilder:
    """Build a one-subgraph .tflite model; see the module docstring."""

    def __init__(self, description: str = "odl.tflite.writer", subgraph_name: str = "main"):
        self.description = description
        self.subgraph_name = subgraph_name
        self.tensors: list[_Tensor] = []
        self.operators: list[_Operator] = []

    # --- graph ---------------------------------------------------------------------------------------------
    def add_tensor(self, name: str, shape, dtype, data=None, scale=None, zero_point=None,
                   quantized_dimension: int = 0, is_variable: bool = False) -> int:
        """Add a tensor; returns its index. ``data`` makes it constant (it must match shape and dtype exactly).

        ``scale``/``zero_point`` are scalars (per-tensor) or 1-D sequences (per-channel along
        ``quantized_dimension``); a scalar zero point is repeated to the length of ``scale``.
        """
        dtype = np.dtype(dtype)
        if dtype not in TENSOR_TYPES:
            raise DTypeError(f"tensor {name!r}: no TFLite type for numpy dtype {dtype}")
        shape = tuple(int(s) for s in shape)
        if any(s < 0 for s in shape):
            raise ShapeError(f"tensor {name!r}: negative dimension in {shape}")
        if data is not None:
            data = np.asarray(data)
            if data.dtype != dtype:
                raise DTypeError(f"tensor {name!r}: data has dtype {data.dtype}, declared {dtype}")
            if data.shape != shape:
                raise ShapeError(f"tensor {name!r}: data has shape {data.shape}, declared {shape}")
            data = np.ascontiguousarray(data)
        if scale is None and zero_point is not None:
            raise OdlError(f"tensor {name!r}: zero_point given without scale")
        scales = zps = None
        if scale is not None:
            scales = np.atleast_1d(np.asarray(scale, dtype=np.float32))
            zps = np.atleast_1d(np.asarray(0 if zero_point is None else zero_point, dtype=np.int64))
            if zps.size == 1 and scales.size > 1:
                zps = np.repeat(zps, scales.size)
            if scales.ndim != 1 or zps.shape != scales.shape:
                raise ShapeError(f"tensor {name!r}: {scales.size} scales but {zps.size} zero points")
            if scales.size > 1:
                if not 0 <= quantized_dimension < len(shape) or shape[quantized_dimension] != scales.size:
                    raise ShapeError(f"tensor {name!r}: {scales.size} per-channel scales do not match dimension "
                                     f"{quantized_dimension} of shape {shape}")
        self.tensors.append(_Tensor(name, shape, dtype, data, scales, zps, int(quantized_dimension), is_variable))
        return len(self.tensors) - 1

    def add_operator(self, opcode, inputs, outputs, options: dict | None = None, version: int | None = None) -> int:
        """Add a builtin operator (name or BuiltinOperator number) reading ``inputs`` and writing ``outputs``
        (tensor indices, -1 for an omitted optional input). Returns the operator's index."""
        code = builtin_code(opcode)
        n = len(self.tensors)
        for idx in list(inputs) + list(outputs):
            if not -1 <= int(idx) < n:
                raise OdlError(f"operator {builtin_name(code)}: tensor index {idx} out of range (have {n})")
        if any(int(i) < 0 for i in outputs):
            raise OdlError(f"operator {builtin_name(code)}: outputs cannot be omitted")
        if version is None:
            version = DEFAULT_VERSIONS.get(builtin_name(code), 1)
        self.operators.append(_Operator(code, int(version), [int(i) for i in inputs], [int(i) for i in outputs],
                                        _normalise_options(options)))
        return len(self.operators) - 1

    def graph_inputs(self) -> list[int]:
        """Tensors read by some operator, not constant and not written by any operator."""
        produced = {o for op in self.operators for o in op.outputs}
        seen: list[int] = []
        for op in self.operators:
            for i in op.inputs:
                if i >= 0 and i not in produced and self.tensors[i].data is None and i not in seen \
                        and not self.tensors[i].is_variable:
                    seen.append(i)
        return seen

    def graph_outputs(self) -> list[int]:
        """Tensors written by some operator and read by none."""
        consumed = {i for op in self.operators for i in op.inputs}
        return [o for op in self.operators for o in op.outputs if o not in consumed]

    # --- serialisation -------------------------------------------------------------------------------------
    def finish(self, inputs: list[int] | None = None, outputs: list[int] | None = None) -> bytes:
        """Serialise the model. Graph inputs/outputs default to ``graph_inputs()`` / ``graph_outputs()``."""
        if not self.operators:
            raise OdlError("a model needs at least one operator")
        inputs = self.graph_inputs() if inputs is None else [int(i) for i in inputs]
        outputs = self.graph_outputs() if outputs is None else [int(i) for i in outputs]
        b = flatbuffers.Builder(1024)

        # buffers: 0 is the empty sentinel, then one per constant tensor
        buffer_of = {}
        buffer_offsets = [self._buffer(b, None)]
        for t_idx, t in enumerate(self.tensors):
            if t.data is not None:
                buffer_of[t_idx] = len(buffer_offsets)
                buffer_offsets.append(self._buffer(b, t.data))

        tensor_offsets = [self._tensor(b, t, buffer_of.get(i, 0)) for i, t in enumerate(self.tensors)]

        # operator codes, in order of first use
        codes: list[tuple[int, int]] = []
        for op in self.operators:
            if (op.code, op.version) not in codes:
                codes.append((op.code, op.version))
        code_offsets = []
        for code, version in codes:
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddVersion(b, version)
            code_offsets.append(tflite.OperatorCodeEnd(b))

        op_offsets = [self._operator(b, op, codes.index((op.code, op.version))) for op in self.operators]

        tensors_vec = self._offset_vector(b, tensor_offsets)
        ops_vec = self._offset_vector(b, op_offsets)
        in_vec = b.CreateNumpyVector(np.asarray(inputs, dtype=np.int32))
        out_vec = b.CreateNumpyVector(np.asarray(outputs, dtype=np.int32))
        sg_name = b.CreateString(self.subgraph_name)
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, tensors_vec)
        tflite.SubGraphAddInputs(b, in_vec)
        tflite.SubGraphAddOutputs(b, out_vec)
        tflite.SubGraphAddOperators(b, ops_vec)
        tflite.SubGraphAddName(b, sg_name)
        subgraph = tflite.SubGraphEnd(b)

        codes_vec = self._offset_vector(b, code_offsets)
        subgraphs_vec = self._offset_vector(b, [subgraph])
        buffers_vec = self._offset_vector(b, buffer_offsets)
        desc = b.CreateString(self.description)
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, codes_vec)
        tflite.ModelAddSubgraphs(b, subgraphs_vec)
        tflite.ModelAddDescription(b, desc)
        tflite.ModelAddBuffers(b, buffers_vec)
        model = tflite.ModelEnd(b)
        b.Finish(model, file_identifier=b"TFL3")
        return bytes(b.Output())

    @staticmethod
    def _offset_vector(b: flatbuffers.Builder, offsets: list[int]) -> int:
        b.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    @staticmethod
    def _buffer(b: flatbuffers.Builder, data: np.ndarray | None) -> int:
        data_vec = None
        if data is not None:
            payload = data.astype(data.dtype.newbyteorder("<"), copy=False).tobytes()
            # 16-byte alignment: TFLM and the optimized LiteRT kernels read weights with aligned loads
            b.StartVector(1, len(payload), 16)
            b.head -= len(payload)
            b.Bytes[b.head:b.head + len(payload)] = payload
            b.vectorNumElems = len(payload)
            data_vec = b.EndVector()
        tflite.BufferStart(b)
        if data_vec is not None:
            tflite.BufferAddData(b, data_vec)
        return tflite.BufferEnd(b)

    @staticmethod
    def _tensor(b: flatbuffers.Builder, t: _Tensor, buffer: int) -> int:
        quant = None
        if t.scale is not None:
            scale_vec = b.CreateNumpyVector(t.scale.astype(np.float32))
            zp_vec = b.CreateNumpyVector(t.zero_point.astype(np.int64))
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, scale_vec)
            tflite.QuantizationParametersAddZeroPoint(b, zp_vec)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.quantized_dimension)
            quant = tflite.QuantizationParametersEnd(b)
        shape_vec = b.CreateNumpyVector(np.asarray(t.shape, dtype=np.int32))
        name = b.CreateString(t.name)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape_vec)
        tflite.TensorAddType(b, TENSOR_TYPES[t.dtype])
        tflite.TensorAddBuffer(b, buffer)
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        if t.is_variable:
            tflite.TensorAddIsVariable(b, True)
        return tflite.TensorEnd(b)

    @staticmethod
    def _options(b: flatbuffers.Builder, table: str, options: dict) -> int:
        mod = importlib.import_module(f"tflite.{table}")
        # vectors must be written before the table is started
        values = {}
        for key, value in options.items():
            adder = getattr(mod, f"{table}Add{_camel(key)}", None)
            if adder is None:
                raise OdlError(f"{table} has no field {key!r}")
            if isinstance(value, (list, tuple, np.ndarray)):
                value = b.CreateNumpyVector(np.asarray(value, dtype=np.int32))
            elif isinstance(value, (bool, np.bool_)):
                value = bool(value)
            elif isinstance(value, (float, np.floating)):
                value = float(value)
            else:
                value = int(value)
            values[key] = (adder, value)
        getattr(mod, f"{table}Start")(b)
        for adder, value in values.values():
            adder(b, value)
        return getattr(mod, f"{table}End")(b)

    def _operator(self, b: flatbuffers.Builder, op: _Operator, opcode_index: int) -> int:
        name = builtin_name(op.code)
        table = OPTIONS_TABLE.get(name)
        if table is None and op.options:
            guess = _camel(name.lower()) + "Options"  # GELU -> GeluOptions, the schema's usual naming
            if importlib.util.find_spec(f"tflite.{guess}") is not None:
                table = guess
        if table is None and op.options:
            raise OdlError(f"operator {name}: options given but no options table is known for it")
        opts = self._options(b, table, op.options) if table is not None else None
        in_vec = b.CreateNumpyVector(np.asarray(op.inputs, dtype=np.int32))
        out_vec = b.CreateNumpyVector(np.asarray(op.outputs, dtype=np.int32))
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, opcode_index)
        tflite.OperatorAddInputs(b, in_vec)
        tflite.OperatorAddOutputs(b, out_vec)
        if opts is not None:
            tflite.OperatorAddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, table))
            tflite.OperatorAddBuiltinOptions(b, opts)
        return tflite.OperatorEnd(b)


# --- single-op int8 models, shaped like converter output ---------------------------------------------------------

def conv_output_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """TFLite ComputeOutSize: SAME -> ceil(size / stride), VALID -> ceil((size - dilated kernel + 1) / stride)."""
    eff = (kernel - 1) * dilation + 1
    if padding.upper() == "SAME":
        return (size + stride - 1) // stride
    if padding.upper() == "VALID":
        return (size - eff + stride) // stride
    raise OdlError(f"padding must be SAME or VALID, got {padding!r}")


def _bias_tensor(b: ModelBuilder, bias, in_scale: float, w_scales, n: int, required: bool = False) -> int:
    if bias is None:
        if not required:
            return -1
        bias = np.zeros(n, dtype=np.int32)  # the converter always writes a (zero) bias for convolutions
    bias = np.asarray(bias)
    w_scales = np.atleast_1d(np.asarray(w_scales, dtype=np.float32))
    scales = np.float32(in_scale) * w_scales  # what the converter writes (float32 product)
    if scales.size == 1 and n > 1:
        return b.add_tensor("bias", (n,), np.int32, data=bias, scale=float(scales[0]), zero_point=0)
    return b.add_tensor("bias", (n,), np.int32, data=bias, scale=scales, zero_point=0, quantized_dimension=0)


def conv2d_model(x_shape, w, bias, *, in_scale, in_zp, w_scales, out_scale, out_zp, stride=(1, 1),
                 dilation=(1, 1), padding="SAME", activation="NONE") -> bytes:
    """int8 CONV_2D: x [1,H,W,Cin], w int8 OHWI with per-channel (or per-tensor) symmetric scales, int32 bias
    (None writes a zero bias, as the converter does)."""
    w = np.asarray(w)
    n, h, wd, cin = x_shape
    cout, kh, kw, wcin = w.shape
    if wcin != cin:
        raise ShapeError(f"conv2d: weights have {wcin} input channels, input has {cin}")
    oh = conv_output_size(h, kh, stride[0], dilation[0], padding)
    ow = conv_output_size(wd, kw, stride[1], dilation[1], padding)
    b = ModelBuilder()
    x = b.add_tensor("input", x_shape, np.int8, scale=in_scale, zero_point=in_zp)
    wt = b.add_tensor("filter", w.shape, np.int8, data=w, scale=w_scales, zero_point=0, quantized_dimension=0)
    bt = _bias_tensor(b, bias, in_scale, w_scales, cout, required=True)
    y = b.add_tensor("output", (n, oh, ow, cout), np.int8, scale=out_scale, zero_point=out_zp)
    b.add_operator("CONV_2D", [x, wt, bt], [y], {"padding": padding, "stride": stride, "dilation": dilation,
                                                  "activation": activation})
    return b.finish()


def depthwise_conv2d_model(x_shape, w, bias, *, depth_multiplier=1, in_scale, in_zp, w_scales, out_scale, out_zp,
                           stride=(1, 1), dilation=(1, 1), padding="SAME", activation="NONE") -> bytes:
    """int8 DEPTHWISE_CONV_2D: w int8 [1,KH,KW,Cin*mult], per-channel scales along dimension 3; bias None writes
    a zero bias (LiteRT requires one)."""
    w = np.asarray(w)
    n, h, wd, cin = x_shape
    _, kh, kw, cout = w.shape
    if cout != cin * depth_multiplier:
        raise ShapeError(f"depthwise: weights have {cout} channels, want {cin}*{depth_multiplier}")
    oh = conv_output_size(h, kh, stride[0], dilation[0], padding)
    ow = conv_output_size(wd, kw, stride[1], dilation[1], padding)
    b = ModelBuilder()
    x = b.add_tensor("input", x_shape, np.int8, scale=in_scale, zero_point=in_zp)
    wt = b.add_tensor("filter", w.shape, np.int8, data=w, scale=w_scales, zero_point=0, quantized_dimension=3)
    bt = _bias_tensor(b, bias, in_scale, w_scales, cout, required=True)
    y = b.add_tensor("output", (n, oh, ow, cout), np.int8, scale=out_scale, zero_point=out_zp)
    b.add_operator("DEPTHWISE_CONV_2D", [x, wt, bt], [y],
                   {"padding": padding, "stride": stride, "dilation": dilation, "depth_multiplier": depth_multiplier,
                    "activation": activation})
    return b.finish()


def fully_connected_model(x_shape, w, bias, *, in_scale, in_zp, w_scales, out_scale, out_zp,
                          activation="NONE") -> bytes:
    """int8 FULLY_CONNECTED: x [B,K], w int8 [N,K]; per-tensor or per-channel weight scales."""
    w = np.asarray(w)
    nout, k = w.shape
    if x_shape[-1] != k:
        raise ShapeError(f"fully_connected: weights take {k} inputs, input has {x_shape[-1]}")
    b = ModelBuilder()
    x = b.add_tensor("input", x_shape, np.int8, scale=in_scale, zero_point=in_zp)
    wt = b.add_tensor("weights", w.shape, np.int8, data=w, scale=w_scales, zero_point=0, quantized_dimension=0)
    bt = _bias_tensor(b, bias, in_scale, w_scales, nout)
    y = b.add_tensor("output", (x_shape[0], nout), np.int8, scale=out_scale, zero_point=out_zp)
    b.add_operator("FULLY_CONNECTED", [x, wt, bt], [y], {"activation": activation})
    return b.finish()


def add_model(shape, *, a_scale, a_zp, b_scale, b_zp, out_scale, out_zp, activation="NONE", b_shape=None) -> bytes:
    """int8 ADD of two graph inputs (b may have a broadcastable ``b_shape``)."""
    bld = ModelBuilder()
    a = bld.add_tensor("a", shape, np.int8, scale=a_scale, zero_point=a_zp)
    bb = bld.add_tensor("b", shape if b_shape is None else b_shape, np.int8, scale=b_scale, zero_point=b_zp)
    out_shape = np.broadcast_shapes(tuple(shape), tuple(shape if b_shape is None else b_shape))
    y = bld.add_tensor("output", out_shape, np.int8, scale=out_scale, zero_point=out_zp)
    bld.add_operator("ADD", [a, bb], [y], {"activation": activation})
    return bld.finish()


def pool2d_model(kind: str, x_shape, *, pool, stride, padding="VALID", scale=0.05, zero_point=0,
                 activation="NONE") -> bytes:
    """int8 AVERAGE_POOL_2D (kind "avg") or MAX_POOL_2D (kind "max"); input and output share quantization."""
    op = {"avg": "AVERAGE_POOL_2D", "max": "MAX_POOL_2D"}.get(kind)
    if op is None:
        raise OdlError(f"pool kind must be 'avg' or 'max', got {kind!r}")
    n, h, w, c = x_shape
    oh = conv_output_size(h, pool[0], stride[0], 1, padding)
    ow = conv_output_size(w, pool[1], stride[1], 1, padding)
    b = ModelBuilder()
    x = b.add_tensor("input", x_shape, np.int8, scale=scale, zero_point=zero_point)
    y = b.add_tensor("output", (n, oh, ow, c), np.int8, scale=scale, zero_point=zero_point)
    b.add_operator(op, [x], [y], {"padding": padding, "stride": stride, "filter": pool, "activation": activation})
    return b.finish()


def mean_model(x_shape, *, in_scale, in_zp, out_scale, out_zp, axis=(1, 2), keep_dims=True) -> bytes:
    """int8 MEAN over ``axis`` (default: spatial mean of NHWC, as in global average pooling)."""
    axis = tuple(int(a) for a in axis)
    out_shape = tuple(1 if i in axis else s for i, s in enumerate(x_shape)) if keep_dims else \
        tuple(s for i, s in enumerate(x_shape) if i not in axis)
    b = ModelBuilder()
    x = b.add_tensor("input", x_shape, np.int8, scale=in_scale, zero_point=in_zp)
    ax = b.add_tensor("axis", (len(axis),), np.int32, data=np.asarray(axis, dtype=np.int32))
    y = b.add_tensor("output", out_shape, np.int8, scale=out_scale, zero_point=out_zp)
    b.add_operator("MEAN", [x, ax], [y], {"keep_dims": keep_dims})
    return b.finish()


def quantize_model(shape, *, in_scale, in_zp, out_scale, out_zp, in_dtype=np.int8) -> bytes:
    """QUANTIZE: int8 -> int8 requantization (or float32 -> int8 with ``in_dtype=np.float32``)."""
    b = ModelBuilder()
    if np.dtype(in_dtype) == np.float32:
        x = b.add_tensor("input", shape, np.float32)
    else:
        x = b.add_tensor("input", shape, in_dtype, scale=in_scale, zero_point=in_zp)
    y = b.add_tensor("output", shape, np.int8, scale=out_scale, zero_point=out_zp)
    b.add_operator("QUANTIZE", [x], [y])
    return b.finish()


def reshape_model(x_shape, new_shape, *, scale=0.05, zero_point=0) -> bytes:
    """int8 RESHAPE with the new shape as a constant int32 input (and in the options, like the converter)."""
    new_shape = tuple(int(s) for s in new_shape)
    b = ModelBuilder()
    x = b.add_tensor("input", x_shape, np.int8, scale=scale, zero_point=zero_point)
    s = b.add_tensor("shape", (len(new_shape),), np.int32, data=np.asarray(new_shape, dtype=np.int32))
    y = b.add_tensor("output", new_shape, np.int8, scale=scale, zero_point=zero_point)
    b.add_operator("RESHAPE", [x, s], [y], {"new_shape": list(new_shape)})
    return b.finish()


def softmax_model(x_shape, *, in_scale, in_zp, beta=1.0) -> bytes:
    """int8 SOFTMAX over the last axis; output scale 1/256, zero point -128 as TFLite requires."""
    b = ModelBuilder()
    x = b.add_tensor("input", x_shape, np.int8, scale=in_scale, zero_point=in_zp)
    y = b.add_tensor("output", x_shape, np.int8, scale=1.0 / 256.0, zero_point=-128)
    b.add_operator("SOFTMAX", [x], [y], {"beta": beta})
    return b.finish()
