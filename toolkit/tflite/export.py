"""Export an int8 IR Graph (with trained weights) back to a .tflite flatbuffer, laid out like converter output.

    from toolkit.tflite.export import export_tflite

    data = export_tflite(graph, trained={"model/dense/MatMul_1": w_q, ...}, path="finetuned.tflite")

``trained`` maps IR param names to new int8 weights / int32 biases (``odl emulate --save`` writes such an .npz;
QAS keeps every param in its original quantization, so only the data changes). The writer is
toolkit.tflite.writer.ModelBuilder. Every IR op maps back to the TFLite operator it came from:

- ``conv2d`` / ``depthwise_conv2d`` -> CONV_2D / DEPTHWISE_CONV_2D with SAME or VALID padding when the IR's
  explicit ``pad`` is one of them, else a PAD (int32 paddings, output quantized as the input) + VALID convolution
  (the converter's form of explicit paddings); per-channel weights along axis 0 (conv) / 3 (depthwise);
- ``fully_connected`` -> FULLY_CONNECTED; a ``reshape`` before it -> RESHAPE with a constant new shape;
- ``add`` -> ADD; fused ``activation`` (none / relu / relu6) -> the op's fused activation;
- ``avg_pool2d`` / ``max_pool2d`` (+ a ``relu`` / ``relu6`` node reading only it -> fused) -> AVERAGE_POOL_2D /
  MAX_POOL_2D with SAME or VALID padding;
- ``global_avg_pool`` -> MEAN over axes (1, 2), ``keep_dims`` false when a reshape to (1, C) follows, else true;
- ``softmax`` -> SOFTMAX (beta);
- the float edges recorded at import (``meta["tflite_io"]``) -> a float32 input + QUANTIZE, DEQUANTIZE + a float32
  output; tensor names come back from ``meta["tflite_names"]`` when the graph was imported from a .tflite.

Anything else (a standalone relu, a pool with an explicit padding that is neither SAME nor VALID, fp32 graphs)
raises ExportError naming the node.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolkit.errors import OdlError


class ExportError(OdlError):
    """The graph cannot be written as a .tflite model (an op or form TFLite has no operator for)."""


def _same_pad(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    eff = (k - 1) * d + 1
    out = (size + s - 1) // s
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _padding(node, in_shape, allow_explicit: bool) -> tuple[str, tuple[int, int, int, int] | None]:
    """("SAME" | "VALID", extra PAD (t, b, l, r) or None) for a node's explicit ``pad`` attr."""
    pad = tuple(int(p) for p in node.attrs.get("pad", (0, 0, 0, 0)))
    k = tuple(node.attrs["kernel"])
    s = tuple(node.attrs.get("stride", (1, 1)))
    d = tuple(node.attrs.get("dilation", (1, 1)))
    if pad == (0, 0, 0, 0):
        return "VALID", None
    same = _same_pad(in_shape[1], k[0], s[0], d[0]) + _same_pad(in_shape[2], k[1], s[1], d[1])
    if pad == same:
        return "SAME", None
    if not allow_explicit:
        raise ExportError(f"node {node.name} ({node.op}): padding {pad} is neither SAME {same} nor VALID; TFLite "
                          "pools have no explicit padding")
    return "VALID", pad


_ACT = {"none": "NONE", "relu": "RELU", "relu6": "RELU6", None: "NONE"}


class _Exporter:
    def __init__(self, graph, trained: dict):
        from toolkit.tflite.writer import ModelBuilder

        if graph.meta.get("precision") != "int8":
            raise ExportError(f"graph {graph.name}: only int8 graphs export to .tflite (quantize it first)")
        self.g, self.trained = graph, dict(trained or {})
        unknown = sorted(set(self.trained) - set(graph.tensors))
        if unknown:
            raise ExportError(f"trained tensors not in graph {graph.name}: {', '.join(unknown[:5])}")
        desc = graph.meta.get("tflite_description") or "odl export"
        self.b = ModelBuilder(description=f"{desc} (odl fine-tuned)", subgraph_name="main")
        self.names = dict(graph.meta.get("tflite_names") or {})
        self.idx: dict[str, int] = {}
        self.fused: set[str] = set()

    def name(self, t: str) -> str:
        return self.names.get(t, t)

    def tensor(self, t: str, shape=None) -> int:
        """The builder index of IR tensor ``t`` (added on first use: param data from ``trained`` or the graph)."""
        if t in self.idx:
            return self.idx[t]
        tt = self.g.tensor(t)
        q = tt.quant
        kw = {}
        if q is not None:
            kw = {"scale": np.asarray(q.scale, np.float32), "zero_point": np.asarray(q.zero_point, np.int64),
                  "quantized_dimension": int(q.axis or 0)}
        data = None
        if tt.kind == "param":
            data = self.trained.get(t, tt.data)
            want = np.dtype(tt.dtype)
            data = np.asarray(data)
            if data.dtype != want or data.shape != tuple(tt.shape):
                if data.size != int(np.prod(tt.shape)) or data.dtype.kind != want.kind:
                    raise ExportError(f"trained tensor {t}: {data.dtype} {data.shape}, the graph holds {want} "
                                      f"{tuple(tt.shape)}")
                data = data.astype(want).reshape(tt.shape)
        self.idx[t] = self.b.add_tensor(self.name(t), shape or tt.shape, np.dtype(tt.dtype), data=data, **kw)
        return self.idx[t]

    def const_i32(self, name: str, values) -> int:
        v = np.asarray(values, np.int32)
        return self.b.add_tensor(name, v.shape, np.int32, data=v)

    def only_consumer(self, t: str, op: str):
        cs = self.g.consumers(t)
        if len(cs) == 1 and cs[0].op == op and t not in self.g.outputs:
            return cs[0]
        return None

    # -- ops ------------------------------------------------------------------------------------------------
    def conv(self, n):
        x, w = n.inputs[0], n.inputs[1]
        xs = self.g.tensor(x).shape
        padding, extra = _padding(n, xs, allow_explicit=True)
        xi = self.tensor(x)
        if extra is not None:
            t, bt, l, r = extra
            xt = self.g.tensor(x)
            q = xt.quant
            pshape = (xs[0], xs[1] + t + bt, xs[2] + l + r, xs[3])
            pi = self.b.add_tensor(f"{self.name(n.outputs[0])}/pad", pshape, np.int8,
                                   scale=np.asarray(q.scale, np.float32), zero_point=np.asarray(q.zero_point))
            pads = self.const_i32(f"{self.name(n.outputs[0])}/paddings", [[0, 0], [t, bt], [l, r], [0, 0]])
            self.b.add_operator("PAD", [xi, pads], [pi])
            xi = pi
        ins = [xi, self.tensor(w)] + ([self.tensor(n.inputs[2])] if len(n.inputs) > 2 else [])
        opts = {"padding": padding, "stride": tuple(n.attrs.get("stride", (1, 1))),
                "dilation": tuple(n.attrs.get("dilation", (1, 1))), "activation": _ACT[n.attrs.get("activation")]}
        if n.op == "depthwise_conv2d":
            opts["depth_multiplier"] = int(n.attrs.get("depth_multiplier", 1))
            if len(ins) == 2:
                ins.append(-1)
            self.b.add_operator("DEPTHWISE_CONV_2D", ins, [self.tensor(n.outputs[0])], opts)
        else:
            if len(ins) == 2:
                ins.append(-1)
            self.b.add_operator("CONV_2D", ins, [self.tensor(n.outputs[0])], opts)

    def fully_connected(self, n):
        ins = [self.tensor(n.inputs[0]), self.tensor(n.inputs[1])]
        ins.append(self.tensor(n.inputs[2]) if len(n.inputs) > 2 else -1)
        self.b.add_operator("FULLY_CONNECTED", ins, [self.tensor(n.outputs[0])],
                            {"activation": _ACT[n.attrs.get("activation")]})

    def add(self, n):
        self.b.add_operator("ADD", [self.tensor(n.inputs[0]), self.tensor(n.inputs[1])],
                            [self.tensor(n.outputs[0])], {"activation": _ACT[n.attrs.get("activation")]})

    def pool(self, n):
        x = n.inputs[0]
        padding, _ = _padding(n, self.g.tensor(x).shape, allow_explicit=False)
        out, act = n.outputs[0], "NONE"
        for a in ("relu", "relu6"):
            c = self.only_consumer(out, a)
            if c is not None:
                self.fused.add(c.name)
                out, act = c.outputs[0], a.upper()
                break
        self.b.add_operator("AVERAGE_POOL_2D" if n.op == "avg_pool2d" else "MAX_POOL_2D", [self.tensor(x)],
                            [self.tensor(out)], {"padding": padding, "stride": tuple(n.attrs.get("stride", (1, 1))),
                                                 "filter": tuple(n.attrs["kernel"]), "activation": act})

    def mean(self, n):
        x, out = n.inputs[0], n.outputs[0]
        keep = True
        c = self.only_consumer(out, "reshape")
        c_ = self.g.tensor(x).shape[3]
        if c is not None and tuple(self.g.tensor(c.outputs[0]).shape) == (1, c_):
            self.fused.add(c.name)
            out, keep = c.outputs[0], False
        axes = self.const_i32(f"{self.name(out)}/reduction_indices", [1, 2])
        self.b.add_operator("MEAN", [self.tensor(x), axes], [self.tensor(out)], {"keep_dims": keep})

    def reshape(self, n):
        out = n.outputs[0]
        shape = self.g.tensor(out).shape
        new = self.const_i32(f"{self.name(out)}/shape", list(shape))
        self.b.add_operator("RESHAPE", [self.tensor(n.inputs[0]), new], [self.tensor(out)])

    def softmax(self, n):
        self.b.add_operator("SOFTMAX", [self.tensor(n.inputs[0])], [self.tensor(n.outputs[0])],
                            {"beta": float(n.attrs.get("beta", 1.0))})

    OPS = {"conv2d": conv, "depthwise_conv2d": conv, "fully_connected": fully_connected, "add": add,
           "avg_pool2d": pool, "max_pool2d": pool, "global_avg_pool": mean, "reshape": reshape, "softmax": softmax}

    def run(self) -> bytes:
        g = self.g
        if len(g.inputs) != 1:
            raise ExportError(f"graph {g.name}: {len(g.inputs)} inputs; odl exports one-input models")
        io = g.meta.get("tflite_io") or {}
        x = g.inputs[0]
        if io.get("input"):
            i = io["input"]
            xf = self.b.add_tensor(i["name"], tuple(i["shape"]), np.float32)
            self.b.add_operator("QUANTIZE", [xf], [self.tensor(x)])
            inputs = [xf]
        else:
            inputs = [self.tensor(x)]
        for n in g.nodes:
            if n.name in self.fused:
                continue
            fn = self.OPS.get(n.op)
            if fn is None:
                raise ExportError(f"node {n.name}: op {n.op} has no TFLite export (supported: "
                                  f"{', '.join(sorted(self.OPS))}, relu / relu6 fused into a pool)")
            fn(self, n)
        outputs = []
        float_outs = list(io.get("outputs") or [])
        for k, o in enumerate(g.outputs):
            if k < len(float_outs):
                spec = float_outs[k]
                yf = self.b.add_tensor(spec["name"], tuple(spec["shape"]), np.float32)
                self.b.add_operator("DEQUANTIZE", [self.tensor(o)], [yf])
                outputs.append(yf)
            else:
                outputs.append(self.tensor(o))
        return self.b.finish(inputs=inputs, outputs=outputs)


def export_tflite(graph, trained: dict | None = None, path=None) -> bytes:
    """The .tflite bytes of int8 ``graph`` with ``trained`` params (IR name -> array) swapped in; also written to
    ``path`` when given."""
    data = _Exporter(graph, trained).run()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def load_trained(path) -> dict[str, np.ndarray]:
    """The trained tensors of an ``odl emulate --save`` .npz, by IR name."""
    path = Path(path)
    if not path.exists():
        raise ExportError(f"trained-tensor file {path} does not exist")
    with np.load(path, allow_pickle=False) as z:
        return {k: np.asarray(z[k]) for k in z.files}


__all__ = ["export_tflite", "load_trained", "ExportError"]
