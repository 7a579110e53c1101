"""Per-node cost of an IR graph: output shape, MACs, parameters, activation bytes, with totals.

MACs count the multiply-accumulates of conv2d (OH*OW*Cout*KH*KW*Cin), depthwise_conv2d (OH*OW*Cout*KH*KW) and
fully_connected (N*K) for batch 1; other ops count 0. ``params`` is the number of parameter elements a node reads,
``param_bytes`` their storage in the graph's dtypes, ``activation_bytes`` the size of the node's output tensor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from toolkit.ir.graph import Graph, Node


@dataclass
class NodeSummary:
    name: str
    op: str
    output_shape: tuple[int, ...]
    macs: int
    params: int
    param_bytes: int
    activation_bytes: int
    activation: str = "none"


def node_macs(g: Graph, n: Node) -> int:
    out = g.tensor(n.outputs[0]).shape
    if n.op == "conv2d":
        _, kh, kw, cin = g.tensor(n.inputs[1]).shape
        return int(np.prod(out)) * kh * kw * cin
    if n.op == "depthwise_conv2d":
        kh, kw = n.attrs["kernel"]
        return int(np.prod(out)) * kh * kw
    if n.op == "fully_connected":
        nout, k = g.tensor(n.inputs[1]).shape
        return nout * k
    return 0


def summarize(g: Graph) -> dict:
    """{"name", "precision", "input": {...}, "nodes": [NodeSummary dicts], "totals": {...}}."""
    rows = []
    for n in g.nodes:
        ps = [g.tensor(i) for i in n.inputs if g.tensor(i).kind == "param"]
        out = g.tensor(n.outputs[0])
        rows.append(NodeSummary(n.name, n.op, tuple(out.shape), node_macs(g, n), sum(p.size for p in ps),
                                sum(p.nbytes for p in ps), out.nbytes, n.attrs.get("activation", "none")))
    inp = g.tensor(g.inputs[0])
    acts = [r.activation_bytes for r in rows]
    totals = {
        "nodes": len(rows),
        "macs": sum(r.macs for r in rows),
        "params": sum(t.size for t in g.params()),
        "param_bytes": sum(t.nbytes for t in g.params()),
        "activation_bytes": sum(acts),
        "largest_activation_bytes": max(acts + [inp.nbytes]),
        "input_bytes": inp.nbytes,
    }
    return {"name": g.name, "precision": g.meta.get("precision", "fp32"),
            "input": {"name": inp.name, "shape": list(inp.shape), "dtype": inp.dtype},
            "outputs": list(g.outputs),
            "nodes": [dict(asdict(r), output_shape=list(r.output_shape)) for r in rows], "totals": totals}


def _fmt(n: int) -> str:
    return f"{n:,}"


def format_summary(s: dict) -> str:
    """A fixed-width table of ``summarize(g)``."""
    head = ("node", "op", "output (NHWC)", "MACs", "params", "act bytes")
    lines = []
    for r in s["nodes"]:
        op = r["op"] + (f"+{r['activation']}" if r["activation"] not in ("none", None) else "")
        lines.append((r["name"], op, "x".join(str(d) for d in r["output_shape"]), _fmt(r["macs"]),
                      _fmt(r["params"]), _fmt(r["activation_bytes"])))
    t = s["totals"]
    total = ("total", f"{t['nodes']} nodes", "", _fmt(t["macs"]), _fmt(t["params"]), _fmt(t["activation_bytes"]))
    widths = [max(len(str(row[i])) for row in [head, total] + lines) for i in range(6)]

    def row(r):
        return "  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    sep = "  ".join("-" * w for w in widths)
    inp = s["input"]
    out = [f"{s['name']} ({s['precision']}), input {inp['name']} {'x'.join(map(str, inp['shape']))} {inp['dtype']}",
           row(head), sep] + [row(r) for r in lines] + [sep, row(total),
           f"parameters: {_fmt(t['params'])} ({_fmt(t['param_bytes'])} bytes); largest activation: "
           f"{_fmt(t['largest_activation_bytes'])} bytes"]
    return "\n".join(out)
