"""IR dataclasses: Tensor, Node, Graph, with validation, shape inference and a JSON round-trip."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import OdlError, ShapeError

DTYPES = ("float32", "float16", "int8", "int32")
KINDS = ("input", "param", "activation", "output")

# op -> (attribute names it requires, number of tensor inputs (params included), description)
OPS: dict[str, tuple[tuple[str, ...], str]] = {
    # inputs: x, w, [b]. attrs: kernel (kh, kw), stride (sh, sw), dilation (dh, dw), pad (top, bottom, left, right),
    # activation ("none" | "relu" | "relu6")
    "conv2d": (("kernel", "stride", "dilation", "pad", "activation"), "2-D convolution, OHWI weights"),
    "depthwise_conv2d": (("kernel", "stride", "dilation", "pad", "activation", "depth_multiplier"),
                         "depthwise 2-D convolution, 1HWC weights"),
    # inputs: x [1, K], w [N, K], [b]
    "fully_connected": (("activation",), "fully connected, weights [out, in]"),
    "relu": ((), "max(x, 0)"),
    "relu6": ((), "min(max(x, 0), 6)"),
    "avg_pool2d": (("kernel", "stride", "pad"), "average pool; padded taps not counted"),
    "max_pool2d": (("kernel", "stride", "pad"), "max pool"),
    "global_avg_pool": ((), "mean over H and W, keeps dims [1,1,1,C]"),
    "add": (("activation",), "elementwise add of two activations"),
    "reshape": (("shape",), "reshape (NHWC element order)"),
    "softmax": ((), "softmax over the last axis (inference output only)"),
}


@dataclass
class Quant:
    """Affine quantization: real = scale * (q - zero_point); per-channel along ``axis`` when len(scale) > 1."""

    scale: list[float]
    zero_point: list[int]
    axis: int | None = None

    def to_dict(self) -> dict:
        return {"scale": [float(s) for s in self.scale], "zero_point": [int(z) for z in self.zero_point],
                "axis": self.axis}

    @staticmethod
    def from_dict(d: dict) -> "Quant":
        return Quant(list(d["scale"]), list(d["zero_point"]), d.get("axis"))


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    kind: str = "activation"
    quant: Quant | None = None
    data: np.ndarray | None = None  # params only

    def __post_init__(self):
        self.shape = tuple(int(s) for s in self.shape)
        if self.dtype not in DTYPES:
            raise OdlError(f"tensor {self.name}: unknown dtype {self.dtype!r} (expected one of {', '.join(DTYPES)})")
        if self.kind not in KINDS:
            raise OdlError(f"tensor {self.name}: unknown kind {self.kind!r}")

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "kind": self.kind}
        if self.quant is not None:
            d["quant"] = self.quant.to_dict()
        if self.data is not None:
            arr = np.ascontiguousarray(self.data, dtype=self.dtype)
            d["data"] = base64.b64encode(arr.tobytes()).decode("ascii")
        return d

    @staticmethod
    def from_dict(d: dict) -> "Tensor":
        t = Tensor(d["name"], tuple(d["shape"]), d["dtype"], d["kind"],
                   Quant.from_dict(d["quant"]) if d.get("quant") else None)
        if "data" in d:
            t.data = np.frombuffer(base64.b64decode(d["data"]), dtype=t.dtype).reshape(t.shape).copy()
        return t


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # where it came from in the user's model (module path / op location), for error messages

    def to_dict(self) -> dict:
        return {"name": self.name, "op": self.op, "inputs": list(self.inputs), "outputs": list(self.outputs),
                "attrs": _jsonable(self.attrs), "source": self.source}

    @staticmethod
    def from_dict(d: dict) -> "Node":
        attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in d.get("attrs", {}).items()}
        return Node(d["name"], d["op"], list(d["inputs"]), list(d["outputs"]), attrs, d.get("source", ""))


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass
class Graph:
    name: str
    tensors: dict[str, Tensor]
    nodes: list[Node]
    inputs: list[str]
    outputs: list[str]
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"framework": "torch", "precision": "fp32"}

    # ---- access -------------------------------------------------------------------------------------------------
    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise OdlError(f"graph {self.name}: no tensor named {name!r}") from None

    def producer(self, tensor: str) -> Node | None:
        for n in self.nodes:
            if tensor in n.outputs:
                return n
        return None

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def params(self) -> list[Tensor]:
        return [t for t in self.tensors.values() if t.kind == "param"]

    # ---- checks ---------------------------------------------------------------------------------------------
    def validate(self) -> "Graph":
        """Check names, topological order and every node's shapes; raise a clear error naming the node."""
        known = set(self.inputs) | {t.name for t in self.params()}
        for name in self.inputs + self.outputs:
            self.tensor(name)
        for n in self.nodes:
            if n.op not in OPS:
                raise OdlError(f"node {n.name} ({n.source or 'graph'}): unsupported op {n.op!r}")
            missing = [a for a in OPS[n.op][0] if a not in n.attrs]
            if missing:
                raise OdlError(f"node {n.name}: op {n.op} is missing attributes {missing}")
            for i in n.inputs:
                if i not in known:
                    raise OdlError(f"node {n.name}: input {i!r} is used before it is produced")
            want = infer_shapes(self, n)
            for o, shp in zip(n.outputs, want):
                got = self.tensor(o).shape
                if tuple(got) != tuple(shp):
                    raise ShapeError(f"node {n.name} ({n.op}): output {o} has shape {got}, expected {tuple(shp)}")
                known.add(o)
        for o in self.outputs:
            if o not in known:
                raise OdlError(f"graph output {o!r} is never produced")
        return self

    # ---- serialisation ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": "odl-ir", "version": 1, "name": self.name, "inputs": self.inputs, "outputs": self.outputs,
                "meta": _jsonable(self.meta), "tensors": [t.to_dict() for t in self.tensors.values()],
                "nodes": [n.to_dict() for n in self.nodes]}

    @staticmethod
    def from_dict(d: dict) -> "Graph":
        if d.get("format") != "odl-ir":
            raise OdlError("not an odl IR document (missing format: odl-ir)")
        if d.get("version") != 1:
            raise OdlError(f"odl IR version {d.get('version')} is not supported (this odl reads version 1)")
        tensors = {t["name"]: Tensor.from_dict(t) for t in d["tensors"]}
        return Graph(d["name"], tensors, [Node.from_dict(n) for n in d["nodes"]], list(d["inputs"]),
                     list(d["outputs"]), dict(d.get("meta", {})))

    def to_json(self, path: str | Path | None = None) -> str:
        s = json.dumps(self.to_dict(), indent=1, sort_keys=True)
        if path is not None:
            Path(path).write_text(s)
        return s

    @staticmethod
    def from_json(src: str | Path) -> "Graph":
        text = Path(src).read_text() if isinstance(src, Path) or not str(src).lstrip().startswith("{") else src
        return Graph.from_dict(json.loads(text))


def conv_out(size: int, k: int, s: int, d: int, p0: int, p1: int) -> int:
    return (size + p0 + p1 - ((k - 1) * d + 1)) // s + 1


def infer_shapes(g: Graph, n: Node) -> list[tuple[int, ...]]:
    """Output shapes of node ``n`` from its input tensors' shapes."""
    ins = [g.tensor(i).shape for i in n.inputs]
    a = n.attrs
    if n.op in ("conv2d", "depthwise_conv2d"):
        _, h, w, c = ins[0]
        kh, kw = a["kernel"]
        sh, sw = a["stride"]
        dh, dw = a["dilation"]
        pt, pb, pl, pr = a["pad"]
        oc = ins[1][0] if n.op == "conv2d" else c * int(a["depth_multiplier"])
        if n.op == "conv2d" and ins[1][3] != c:
            raise ShapeError(f"node {n.name}: weights {ins[1]} do not match {c} input channels")
        return [(1, conv_out(h, kh, sh, dh, pt, pb), conv_out(w, kw, sw, dw, pl, pr), oc)]
    if n.op == "fully_connected":
        if ins[0][-1] != ins[1][1]:
            raise ShapeError(f"node {n.name}: input {ins[0]} does not match weights {ins[1]}")
        return [(1, ins[1][0])]
    if n.op in ("relu", "relu6", "softmax"):
        return [ins[0]]
    if n.op in ("avg_pool2d", "max_pool2d"):
        _, h, w, c = ins[0]
        kh, kw = a["kernel"]
        sh, sw = a["stride"]
        pt, pb, pl, pr = a["pad"]
        return [(1, conv_out(h, kh, sh, 1, pt, pb), conv_out(w, kw, sw, 1, pl, pr), c)]
    if n.op == "global_avg_pool":
        return [(1, 1, 1, ins[0][3])]
    if n.op == "add":
        if ins[0] != ins[1]:
            raise ShapeError(f"node {n.name}: add of shapes {ins[0]} and {ins[1]}")
        return [ins[0]]
    if n.op == "reshape":
        shp = tuple(a["shape"])
        if int(np.prod(shp)) != int(np.prod(ins[0])):
            raise ShapeError(f"node {n.name}: cannot reshape {ins[0]} to {shp}")
        return [shp]
    raise OdlError(f"node {n.name}: unsupported op {n.op!r}")
