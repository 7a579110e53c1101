"""PyTorch frontend: a ``torch.nn.Module`` (through ``torch.export``) or a ``.pt2`` file -> an fp32 IR Graph.

The exported ATen graph is walked node by node (both the training-IR ops that ``torch.export.export`` produces and the
core-ATen ops of ``run_decompositions()``). Conversions:

- activations NCHW -> NHWC (batch 1); conv weights OIHW -> OHWI; depthwise (C*m, 1, KH, KW) -> (1, KH, KW, C*m);
- BatchNorm2d (eval statistics) is folded into the conv that feeds it; the folded tensors keep the conv's names
  (``<conv>.weight``, ``<conv>.bias``; a bias is created when the conv had none);
- a ReLU / ReLU6 that directly follows a conv / linear / add whose output has no other consumer becomes that node's
  ``activation`` attribute;
- flatten of an NCHW tensor becomes a reshape of the NHWC tensor, and the following Linear's weight columns are
  permuted so the result equals the torch model's;
- dropout, clone and other identities are dropped.

Names: parameters keep the module path (``features.3.weight``); a node is named after the module that produced it
(``features.3``), or ``<module path>.<op>`` for functional calls inside a module's forward; the activation tensor a
node produces has the node's name.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.errors import OdlError
from toolkit.ir.graph import Graph, Node, Tensor

SUPPORTED = ("Conv2d (groups 1 or depthwise)", "Linear", "BatchNorm2d after a Conv2d (folded)", "ReLU", "ReLU6",
             "AvgPool2d", "MaxPool2d", "AdaptiveAvgPool2d", "mean over H,W", "residual add", "flatten/reshape/view",
             "Dropout (dropped)")


class UnsupportedOpError(OdlError):
    """The model uses an op the frontend cannot convert."""


# ---- values flowing through the exported graph ---------------------------------------------------------------------
@dataclass
class _Param:
    name: str
    data: np.ndarray  # torch layout, float32


@dataclass
class _Act:
    tensor: str  # IR tensor name
    torch_shape: tuple[int, ...]
    perm: np.ndarray | None = None  # 2-D values from flattening NCHW: torch_flat[i] == ir_flat[perm[i]]


def _where(node) -> str:
    """'features.3 (Conv2d), model.py:12' — as much of the module path and source line as torch recorded."""
    parts = []
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        path, cls = list(stack.values())[-1]
        cls_name = cls.rsplit(".", 1)[-1] if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
        parts.append(f"{path or '<root>'} ({cls_name})")
    trace = node.meta.get("stack_trace") or ""
    lines = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', trace)
    user = [ln for ln in lines if "/torch/" not in ln[0]]
    if user:
        f, line, fn = user[-1]
        parts.append(f"{Path(f).name}:{line} in {fn}")
    return ", ".join(parts) or node.name


def _module_path(node) -> tuple[str, str]:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", ""
    path, cls = list(stack.values())[-1]
    cls_name = cls.rsplit(".", 1)[-1] if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
    return path, cls_name


_LEAF_MODULES = {"Conv2d", "Linear", "BatchNorm2d", "ReLU", "ReLU6", "Hardtanh", "AvgPool2d", "MaxPool2d",
                 "AdaptiveAvgPool2d", "Flatten", "Dropout"}


def _pair(v, n=2) -> tuple[int, ...]:
    if isinstance(v, (list, tuple)):
        v = [int(x) for x in v]
        return tuple(v * n) if len(v) == 1 else tuple(v)
    return (int(v),) * n


class _Converter:
    def __init__(self, exported, name: str):
        self.ep = exported
        self.name = name
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.values: dict = {}
        self.node_names: set[str] = set()
        self.inputs: list[str] = []
        self.outputs: list[str] = []

    # ---- helpers --------------------------------------------------------------------------------------------
    def fail(self, node, msg: str):
        raise UnsupportedOpError(f"{msg} at {_where(node)}. Supported: {', '.join(SUPPORTED)}")

    def node_name(self, fx) -> str:
        path, cls = _module_path(fx)
        if path and cls in _LEAF_MODULES:
            base = path
        elif path:
            base = f"{path}.{fx.name}"
        else:
            base = fx.name
        name, k = base, 1
        while name in self.node_names or name in self.tensors:
            name = f"{base}_{k}"
            k += 1
        self.node_names.add(name)
        return name

    def param_name(self, want: str) -> str:
        name, k = want, 1
        while name in self.tensors:
            name = f"{want}_{k}"
            k += 1
        return name

    def add_param(self, name: str, data: np.ndarray) -> str:
        name = self.param_name(name)
        self.tensors[name] = Tensor(name, data.shape, "float32", "param", None, np.ascontiguousarray(data, np.float32))
        return name

    def act(self, fx, i=0) -> _Act:
        v = self.values.get(fx.args[i]) if i < len(fx.args) else None
        if not isinstance(v, _Act):
            self.fail(fx, f"op {fx.target} expects an activation as argument {i}")
        return v

    def emit(self, fx, op: str, inputs: list[str], torch_shape, ir_shape, attrs=None, perm=None) -> _Act:
        name = self.node_name(fx)
        self.tensors[name] = Tensor(name, ir_shape, "float32", "activation")
        self.nodes.append(Node(name, op, inputs, [name], dict(attrs or {}), _where(fx)))
        a = _Act(name, tuple(torch_shape), perm)
        self.values[fx] = a
        return a

    @staticmethod
    def nhwc(shape) -> tuple[int, ...]:
        if len(shape) == 4:
            return (1, shape[2], shape[3], shape[1])
        return (1,) + tuple(shape[1:])

    @staticmethod
    def out_shape(fx) -> tuple[int, ...]:
        val = fx.meta.get("val")
        if isinstance(val, (tuple, list)):  # multi-output ops (max_pool2d_with_indices, ...): the first result
            val = val[0]
        return tuple(int(s) for s in val.shape)

    # ---- the walk -------------------------------------------------------------------------------------------
    def run(self) -> Graph:
        sig = self.ep.graph_signature
        state = self.ep.state_dict
        consts = getattr(self.ep, "constants", {}) or {}
        kinds = {}
        for spec in sig.input_specs:
            kinds[spec.arg.name] = spec
        for fx in self.ep.graph_module.graph.nodes:
            if fx.op == "placeholder":
                spec = kinds.get(fx.name)
                kind = getattr(spec, "kind", None)
                kname = getattr(kind, "name", str(kind))
                if kname == "USER_INPUT":
                    self.input(fx)
                elif kname in ("PARAMETER", "BUFFER", "CONSTANT_TENSOR"):
                    t = state[spec.target] if spec.target in state else consts[spec.target]
                    self.values[fx] = _Param(spec.target, t.detach().to("cpu").double().numpy())
                else:
                    self.fail(fx, f"graph input of kind {kname}")
            elif fx.op == "call_function":
                self.call(fx)
            elif fx.op == "output":
                outs = fx.args[0]
                outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
                if len(outs) != 1:
                    self.fail(fx, f"a model with {len(outs)} outputs (exactly one is supported)")
                v = self.values.get(outs[0])
                if not isinstance(v, _Act):
                    self.fail(fx, "a model whose output is not computed from its input")
                if v.perm is not None and not np.array_equal(v.perm, np.arange(v.perm.size)):
                    self.fail(fx, "a flattened NCHW tensor as the model output")
                self.outputs.append(v.tensor)
            else:
                self.fail(fx, f"graph node kind {fx.op}")
        for n in self.nodes:
            n.__dict__.pop("_torch", None)
        self.nodes = fuse_activations(self.nodes, self.tensors, self.outputs)
        for o in self.outputs:
            self.tensors[o].kind = "output"
        g = Graph(self.name, self.tensors, self.nodes, self.inputs, self.outputs,
                  {"framework": "torch", "precision": "fp32", "input_layout": "NCHW" if self._in_rank == 4 else "NC",
                   "torch_input_shape": list(self._in_shape)})
        return g.validate()

    def input(self, fx):
        if self.inputs:
            self.fail(fx, "a model with more than one input")
        shape = self.out_shape(fx)
        if len(shape) not in (2, 4) or shape[0] != 1:
            self.fail(fx, f"input shape {shape} (expected (1, C, H, W) or (1, K))")
        self._in_rank, self._in_shape = len(shape), shape
        name = fx.name  # the forward argument's name
        self.tensors[name] = Tensor(name, self.nhwc(shape), "float32", "input")
        self.inputs.append(name)
        self.values[fx] = _Act(name, shape)

    def call(self, fx):
        t = fx.target
        tname = getattr(t, "__name__", str(t))
        op = tname.split(".")[0] if "." in tname else tname
        if t is operator.getitem:
            src = self.values.get(fx.args[0])
            if isinstance(src, tuple):
                self.values[fx] = src[fx.args[1]]
                return
            self.fail(fx, "getitem")
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            stack = fx.meta.get("nn_module_stack") or {}
            qual = list(stack.values())[-1][1] if stack else ""
            qual = qual if isinstance(qual, str) else f"{qual.__module__}.{qual.__qualname__}"
            cls = qual.rsplit(".", 1)[-1]
            what = f"{cls} ({t})" if qual.startswith("torch.nn.") and cls not in _LEAF_MODULES else str(t)
            if op.startswith("_native_batch_norm_legit"):  # the training-mode variant
                what = "BatchNorm2d in training mode (call model.eval() first)"
            self.fail(fx, f"unsupported op {what}")
        handler(fx)

    # ---- identities ---------------------------------------------------------------------------------------------
    def _identity(self, fx):
        v = self.values.get(fx.args[0])
        if v is None:
            self.fail(fx, f"op {fx.target} on an unsupported value")
        self.values[fx] = v

    op_dropout = op_clone = op_alias = op_contiguous = op_detach = op_feature_dropout = op_alpha_dropout = _identity
    op_dropout_ = _identity

    def op_native_dropout(self, fx):
        self.values[fx] = (self.values[fx.args[0]], None)

    def op__assert_tensor_metadata(self, fx):
        pass

    op__assert_scalar = op__assert_tensor_metadata

    # ---- conv / linear / bn -------------------------------------------------------------------------------------
    def op_conv2d(self, fx):
        a = list(fx.args) + [None] * 7
        x, w, b = fx.args[0], a[1], a[2]
        stride = _pair(a[3] if a[3] is not None else 1)
        padding = a[4] if a[4] is not None else 0
        dilation = _pair(a[5] if a[5] is not None else 1)
        groups = int(a[6] if a[6] is not None else 1)
        self._conv(fx, x, w, b, stride, padding, dilation, groups)

    def op_convolution(self, fx):
        x, w, b, stride, padding, dilation, transposed, _out_pad, groups = fx.args[:9]
        if transposed:
            self.fail(fx, "unsupported op ConvTranspose2d")
        self._conv(fx, x, w, b, _pair(stride), padding, _pair(dilation), int(groups))

    def _conv(self, fx, x_fx, w_fx, b_fx, stride, padding, dilation, groups):
        x = self.values.get(x_fx)
        w = self.values.get(w_fx)
        b = self.values.get(b_fx) if b_fx is not None else None
        if not isinstance(x, _Act) or not isinstance(w, _Param) or (b_fx is not None and not isinstance(b, _Param)):
            self.fail(fx, "a convolution whose weights are not parameters")
        if len(x.torch_shape) != 4 or w.data.ndim != 4:
            self.fail(fx, "unsupported op conv (only 2-D convolution is supported)")
        cin = x.torch_shape[1]
        cout, cin_g, kh, kw = w.data.shape
        if isinstance(padding, str):
            if padding == "valid":
                pad = (0, 0, 0, 0)
            elif padding == "same":
                th, tw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
                pad = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
            else:
                self.fail(fx, f"conv padding {padding!r}")
        else:
            ph, pw = _pair(padding)
            pad = (ph, ph, pw, pw)
        attrs = {"kernel": (kh, kw), "stride": stride, "dilation": dilation, "pad": pad, "activation": "none"}
        wname_t = w.name
        bname_t = b.name if b is not None else re.sub(r"weight$", "bias", w.name)
        if bname_t == wname_t:
            bname_t = wname_t + ".bias"
        bias = b.data if b is not None else np.zeros(cout)
        if groups == 1:
            op = "conv2d"
        elif groups == cin and cin_g == 1:
            op = "depthwise_conv2d"
            attrs["depth_multiplier"] = cout // cin
        else:
            self.fail(fx, f"unsupported op Conv2d with groups={groups} (only groups=1 or depthwise groups="
                          f"in_channels={cin} are supported)")
        # the node keeps its torch-layout weights until the walk ends (a BatchNorm may still fold into it)
        shape = self.out_shape(fx)
        act = self.emit(fx, op, [], shape, self.nhwc(shape), attrs)
        node = self.nodes[-1]
        node.inputs = [x.tensor]
        node._torch = {"w": w.data.copy(), "b": bias.copy(), "wname": wname_t, "bname": bname_t}  # type: ignore
        self._finish_conv(node)
        return act

    def _finish_conv(self, node):
        """(Re)write the IR weight and bias tensors of a conv node from its torch-layout arrays."""
        d = node._torch  # type: ignore
        w = d["w"]
        wir = w.transpose(0, 2, 3, 1) if node.op == "conv2d" else w.transpose(1, 2, 3, 0)
        for key, name, data in (("wt", d["wname"], wir), ("bt", d["bname"], d["b"])):
            if key in d:
                self.tensors[d[key]].data = np.ascontiguousarray(data, np.float32)
                self.tensors[d[key]].shape = data.shape
            else:
                d[key] = self.add_param(name, data)
        node.inputs = [node.inputs[0], d["wt"], d["bt"]]

    def op_batch_norm(self, fx):
        x, g, b, mean, var = fx.args[:5]
        training = fx.args[5] if len(fx.args) > 5 else False
        eps = fx.args[7] if len(fx.args) > 7 else 1e-5
        if training:
            self.fail(fx, "BatchNorm2d in training mode (call model.eval() first)")
        self._fold_bn(fx, x, g, b, mean, var, eps)

    def op__native_batch_norm_legit_no_training(self, fx):
        x, g, b, mean, var, _mom, eps = fx.args[:7]
        v = self._fold_bn(fx, x, g, b, mean, var, eps)
        self.values[fx] = (v, None, None)

    def _fold_bn(self, fx, x_fx, g_fx, b_fx, mean_fx, var_fx, eps):
        x = self.values.get(x_fx)
        prod = next((n for n in self.nodes if isinstance(x, _Act) and x.tensor in n.outputs), None)
        ok = (isinstance(x, _Act) and prod is not None and prod.outputs == [x.tensor]
              and prod.op in ("conv2d", "depthwise_conv2d") and prod.attrs["activation"] == "none"
              and len(x_fx.users) == 1 and hasattr(prod, "_torch"))
        if not ok:
            self.fail(fx, "unsupported op BatchNorm2d that does not directly follow a Conv2d whose output it alone "
                          "uses")
        c = self.out_shape(fx)[1]
        gamma = self.values[g_fx].data if g_fx is not None else np.ones(c)
        beta = self.values[b_fx].data if b_fx is not None else np.zeros(c)
        mean, var = self.values[mean_fx].data, self.values[var_fx].data
        scale = gamma / np.sqrt(var + float(eps))
        d = prod._torch  # type: ignore
        d["w"] = d["w"] * scale[:, None, None, None]
        d["b"] = (d["b"] - mean) * scale + beta
        self._finish_conv(prod)
        prod.source += f" + BatchNorm2d {_where(fx).split(',')[0]}"
        self.values[fx] = x
        return x

    def op_linear(self, fx):
        x = self.act(fx, 0)
        w = self.values.get(fx.args[1])
        b = self.values.get(fx.args[2]) if len(fx.args) > 2 and fx.args[2] is not None else None
        if not isinstance(w, _Param):
            self.fail(fx, "a Linear whose weights are not parameters")
        self._fc(fx, x, w.data, w.name, b)

    def _fc(self, fx, x: _Act, w: np.ndarray, wname: str, b: _Param | None):
        if len(x.torch_shape) != 2:
            self.fail(fx, f"Linear on a {len(x.torch_shape)}-D tensor (flatten to (1, K) first)")
        out_f, in_f = w.shape
        if x.perm is not None:
            wp = np.empty_like(w)
            wp[:, x.perm] = w
            w = wp
        bias = b.data if b is not None else np.zeros(out_f)
        bname = b.name if b is not None else (re.sub(r"weight$", "bias", wname) if wname.endswith("weight")
                                              else wname + ".bias")
        shape = self.out_shape(fx)
        wt = self.add_param(wname, w)
        bt = self.add_param(bname, bias)
        return self.emit(fx, "fully_connected", [x.tensor, wt, bt], shape, shape, {"activation": "none"})

    def op_t(self, fx):
        v = self.values.get(fx.args[0])
        if not isinstance(v, _Param) or v.data.ndim != 2:
            self.fail(fx, "unsupported op transpose of an activation")
        self.values[fx] = _Param(v.name, v.data.T)

    def op_permute(self, fx):
        v = self.values.get(fx.args[0])
        if not isinstance(v, _Param):
            self.fail(fx, "unsupported op permute of an activation")
        self.values[fx] = _Param(v.name, v.data.transpose(fx.args[1]))

    def op_transpose(self, fx):
        self.op_t(fx)

    def op_addmm(self, fx):
        b, x_fx, wt = fx.args[:3]
        if fx.kwargs.get("beta", 1) != 1 or fx.kwargs.get("alpha", 1) != 1:
            self.fail(fx, "addmm with alpha/beta")
        x = self.act(fx, 1)
        w = self.values.get(wt)
        if not isinstance(w, _Param) or not isinstance(self.values.get(b), _Param):
            self.fail(fx, "a Linear whose weights are not parameters")
        self._fc(fx, x, w.data.T, w.name, self.values[b])

    def op_mm(self, fx):
        x = self.act(fx, 0)
        w = self.values.get(fx.args[1])
        if not isinstance(w, _Param):
            self.fail(fx, "a matmul of two activations")
        self._fc(fx, x, w.data.T, w.name, None)

    # ---- elementwise --------------------------------------------------------------------------------------------
    def op_relu(self, fx):
        x = self.act(fx, 0)
        shape = self.out_shape(fx)
        self.emit(fx, "relu", [x.tensor], shape, self.tensors[x.tensor].shape, perm=x.perm)

    op_relu_ = op_relu

    def op_hardtanh(self, fx):
        lo = float(fx.args[1]) if len(fx.args) > 1 else -1.0
        hi = float(fx.args[2]) if len(fx.args) > 2 else 1.0
        self._clamp(fx, lo, hi)

    op_hardtanh_ = op_hardtanh

    def op_relu6(self, fx):
        self._clamp(fx, 0, 6)

    op_relu6_ = op_relu6

    def op_clamp(self, fx):
        lo = fx.args[1] if len(fx.args) > 1 else fx.kwargs.get("min")
        hi = fx.args[2] if len(fx.args) > 2 else fx.kwargs.get("max")
        self._clamp(fx, lo, hi)

    def _clamp(self, fx, lo, hi):
        x = self.act(fx, 0)
        shape = self.out_shape(fx)
        if lo == 0 and hi is None:
            op = "relu"
        elif lo == 0 and hi == 6:
            op = "relu6"
        else:
            self.fail(fx, f"unsupported op clamp/hardtanh({lo}, {hi}) (only ReLU and ReLU6 = hardtanh(0, 6))")
        self.emit(fx, op, [x.tensor], shape, self.tensors[x.tensor].shape, perm=x.perm)

    def op_add(self, fx):
        if len(fx.args) < 2 or not isinstance(self.values.get(fx.args[1]), _Act):
            self.fail(fx, "unsupported op add of a constant (only the sum of two activations)")
        if fx.kwargs.get("alpha", 1) != 1:
            self.fail(fx, "add with alpha != 1")
        a, b = self.act(fx, 0), self.act(fx, 1)
        if a.torch_shape != b.torch_shape:
            self.fail(fx, f"add of shapes {a.torch_shape} and {b.torch_shape} (broadcasting is not supported)")
        if (a.perm is None) != (b.perm is None) or (a.perm is not None and not np.array_equal(a.perm, b.perm)):
            self.fail(fx, "add of differently flattened tensors")
        shape = self.out_shape(fx)
        self.emit(fx, "add", [a.tensor, b.tensor], shape, self.tensors[a.tensor].shape, {"activation": "none"},
                  perm=a.perm)

    op_add_ = op_add

    # ---- pooling ------------------------------------------------------------------------------------------------
    def op_max_pool2d(self, fx):
        a = list(fx.args) + [None] * 6
        x = self.act(fx, 0)
        k = _pair(a[1])
        s = _pair(a[2]) if a[2] else k
        p = _pair(a[3] if a[3] is not None else 0)
        d = _pair(a[4] if a[4] is not None else 1)
        if d != (1, 1):
            self.fail(fx, "unsupported op MaxPool2d with dilation")
        if a[5]:
            self.fail(fx, "unsupported op MaxPool2d with ceil_mode=True")
        shape = self.out_shape(fx)
        return self.emit(fx, "max_pool2d", [x.tensor], shape, self.nhwc(shape),
                         {"kernel": k, "stride": s, "pad": (p[0], p[0], p[1], p[1])})

    def op_max_pool2d_with_indices(self, fx):
        v = self.op_max_pool2d(fx)
        self.values[fx] = (v, None)

    def op_avg_pool2d(self, fx):
        a = list(fx.args) + [None] * 7
        x = self.act(fx, 0)
        k = _pair(a[1])
        s = _pair(a[2]) if a[2] else k
        p = _pair(a[3] if a[3] is not None else 0)
        ceil = bool(a[4])
        count_include_pad = True if a[5] is None else bool(a[5])
        if ceil:
            self.fail(fx, "unsupported op AvgPool2d with ceil_mode=True")
        if a[6] is not None:
            self.fail(fx, "unsupported op AvgPool2d with divisor_override")
        if p != (0, 0) and count_include_pad:
            self.fail(fx, "unsupported op AvgPool2d with padding and count_include_pad=True (use "
                          "count_include_pad=False: padded taps are not counted, as in TFLite)")
        shape = self.out_shape(fx)
        self.emit(fx, "avg_pool2d", [x.tensor], shape, self.nhwc(shape),
                  {"kernel": k, "stride": s, "pad": (p[0], p[0], p[1], p[1])})

    def op_adaptive_avg_pool2d(self, fx):
        x = self.act(fx, 0)
        shape = self.out_shape(fx)
        h, w = x.torch_shape[2:]
        oh, ow = shape[2:]
        if (oh, ow) == (1, 1):
            self.emit(fx, "global_avg_pool", [x.tensor], shape, self.nhwc(shape))
        elif h % oh == 0 and w % ow == 0:
            k = (h // oh, w // ow)
            self.emit(fx, "avg_pool2d", [x.tensor], shape, self.nhwc(shape), {"kernel": k, "stride": k,
                                                                              "pad": (0, 0, 0, 0)})
        else:
            self.fail(fx, f"unsupported op AdaptiveAvgPool2d({oh}, {ow}) of a {h}x{w} input (not a whole pooling)")

    op__adaptive_avg_pool2d = op_adaptive_avg_pool2d

    def op_mean(self, fx):
        x = self.act(fx, 0)
        dims = fx.args[1] if len(fx.args) > 1 else None
        keep = bool(fx.args[2]) if len(fx.args) > 2 else bool(fx.kwargs.get("keepdim", False))
        if len(x.torch_shape) != 4 or dims is None or sorted(int(d) % 4 for d in dims) != [2, 3]:
            self.fail(fx, f"unsupported op mean over dims {dims} (only the mean over H and W)")
        c = x.torch_shape[1]
        if keep:
            self.emit(fx, "global_avg_pool", [x.tensor], (1, c, 1, 1), (1, 1, 1, c))
            return
        gname = self.node_name(fx) + ".pool"
        self.tensors[gname] = Tensor(gname, (1, 1, 1, c), "float32", "activation")
        self.nodes.append(Node(gname, "global_avg_pool", [x.tensor], [gname], {}, _where(fx)))
        self.node_names.add(gname)
        self.emit(fx, "reshape", [gname], (1, c), (1, c), {"shape": (1, c)})

    # ---- shapes -------------------------------------------------------------------------------------------------
    def _flatten_to(self, fx, x: _Act, shape):
        shape = tuple(int(s) for s in shape)
        if shape == x.torch_shape:
            self.values[fx] = x
            return
        if len(x.torch_shape) == 4 and len(shape) == 2 and shape[0] == 1:
            _, c, h, w = x.torch_shape
            # torch flat index i = (c, h, w) ; IR flat index = (h, w, c)
            cc, hh, ww = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
            perm = ((hh * w + ww) * c + cc).reshape(-1)
            identity = np.array_equal(perm, np.arange(perm.size))
            self.emit(fx, "reshape", [x.tensor], shape, shape, {"shape": shape}, perm=None if identity else perm)
            return
        self.fail(fx, f"unsupported op reshape from {x.torch_shape} to {shape} (only flattening to (1, K))")

    def op_flatten(self, fx):
        x = self.act(fx, 0)
        self._flatten_to(fx, x, self.out_shape(fx))

    def op_view(self, fx):
        x = self.act(fx, 0)
        self._flatten_to(fx, x, self.out_shape(fx))

    op_reshape = op__unsafe_view = op_view

    def op_squeeze(self, fx):
        x = self.act(fx, 0)
        self._flatten_to(fx, x, self.out_shape(fx))


def fuse_activations(g_nodes: list[Node], tensors: dict[str, Tensor], outputs: list[str]) -> list[Node]:
    """Fold relu/relu6 nodes into a directly preceding conv / depthwise / fully_connected / add whose output has no
    other consumer. Returns the new node list (tensors is updated in place)."""
    nodes = list(g_nodes)
    changed = True
    while changed:
        changed = False
        for i, n in enumerate(nodes):
            if n.op not in ("relu", "relu6"):
                continue
            src = n.inputs[0]
            prod = next((p for p in nodes if src in p.outputs), None)
            users = [u for u in nodes if src in u.inputs]
            if (prod is None or prod.op not in ("conv2d", "depthwise_conv2d", "fully_connected", "add")
                    or prod.attrs.get("activation", "none") != "none" or len(users) != 1 or src in outputs):
                continue
            prod.attrs["activation"] = n.op
            prod.source += f" + {n.op} {n.source.split(',')[0]}"
            # the fused node keeps its own output tensor; readers of the relu's output now read it
            gone = n.outputs[0]
            del tensors[gone]
            for u in nodes:
                u.inputs = [src if i == gone else i for i in u.inputs]
            outputs[:] = [src if o == gone else o for o in outputs]
            nodes.pop(i)
            changed = True
            break
    return nodes


def from_exported(exported, name: str | None = None) -> Graph:
    """An fp32 IR Graph from a ``torch.export.ExportedProgram``."""
    return _Converter(exported, name or "model").run()


def from_torch(module, input_shape=(1, 1, 8, 8), name: str | None = None) -> Graph:
    """Export ``module`` (in eval mode) with an example input of ``input_shape`` (NCHW or (1, K)) and convert it."""
    import torch

    shape = tuple(int(s) for s in input_shape)
    if len(shape) not in (2, 4) or shape[0] != 1:
        raise OdlError(f"input_shape must be (1, C, H, W) or (1, K) (batch 1), got {shape}")
    was_training = module.training
    example = torch.zeros(shape, dtype=torch.float32)
    try:
        exported = torch.export.export(module.eval(), (example,))
    except Exception as e:  # torch raises many kinds; report them as one clear error
        raise OdlError(f"torch.export could not export {type(module).__name__} with input {shape}: "
                       f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
    finally:
        module.train(was_training)
    return from_exported(exported, name or type(module).__name__)


def load_model(path: str | Path, name: str | None = None) -> Graph:
    """Read a ``.pt2`` file written by ``torch.export.save`` into an fp32 IR Graph."""
    import torch

    path = Path(path)
    if not path.exists():
        raise OdlError(f"{path}: no such file")
    try:
        exported = torch.export.load(str(path))
    except Exception as e:
        raise OdlError(f"{path}: not a torch.export .pt2 file ({str(e).splitlines()[0] if str(e) else e!r})") from e
    return from_exported(exported, name or path.stem)
