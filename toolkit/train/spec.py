"""UpdateSpec: which parameters a training step changes, and how (optimizer, schedule, int8 options).

A spec comes from a TOML file or a shorthand:
  full          weights and biases of every layer
  last-layer    weights and bias of the last layer
  biases:K      biases of the last K layers
  last:K        weights and biases of the last K layers

TOML (every table optional)::

    [update]
    biases = 2                    # biases of the last 2 layers
    [[update.weights]]
    layer = "features.3"          # node name (or module path) as in the user's model
    ratio = "1/4"                 # 1/8, 1/4, 1/2 or 1 of the output channels
    select = "magnitude"          # top ratio*C channels by L2 norm of their weights (ties: lower index)
    # indices = [0, 5, 7]         # or explicit channels (then ratio/select are ignored)
    [optimizer]
    lr = 0.01
    momentum = 0.9
    weight_decay = 0.0
    schedule = "constant"         # or "cosine" over total_steps
    total_steps = 0
    [int8]
    qas = true
    rounding = "nearest"          # "nearest" | "stochastic" | "master"
    seed = 1

"Layers" are the nodes carrying parameters (conv2d, depthwise_conv2d, fully_connected) in graph order. Channel
selection is resolved at compile time (``resolve``) into sorted index arrays baked into the Program.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from toolkit.errors import OdlError

LAYER_OPS = ("conv2d", "depthwise_conv2d", "fully_connected")
RATIOS = (Fraction(1, 8), Fraction(1, 4), Fraction(1, 2), Fraction(1, 1))
ROUNDINGS = ("nearest", "stochastic", "master")
SCHEDULES = ("constant", "cosine")


class SpecError(OdlError):
    """A malformed or inapplicable update spec."""


def _ratio(v, where: str) -> Fraction:
    try:
        r = Fraction(str(v).strip()) if not isinstance(v, float) else Fraction(v).limit_denominator(64)
    except (ValueError, ZeroDivisionError):
        raise SpecError(f"{where}: ratio {v!r} is not a number; use one of 1/8, 1/4, 1/2, 1") from None
    if r not in RATIOS:
        raise SpecError(f"{where}: ratio {v!r} is not allowed; use one of 1/8, 1/4, 1/2, 1")
    return r


@dataclass
class WeightUpdate:
    layer: str
    ratio: Fraction = Fraction(1)
    select: str = "magnitude"            # "magnitude" | "indices"
    indices: list[int] | None = None

    def to_dict(self) -> dict:
        d: dict = {"layer": self.layer}
        if self.indices is not None:
            d["indices"] = [int(i) for i in self.indices]
        else:
            d["ratio"] = str(self.ratio)
            d["select"] = self.select
        return d


@dataclass
class UpdateSpec:
    weights: list[WeightUpdate] = field(default_factory=list)
    biases: int = 0                      # biases of the last `biases` layers
    bias_layers: list[str] = field(default_factory=list)  # plus biases of these named layers
    all_weights: bool = False            # "full": every layer's weights, all channels
    all_biases: bool = False
    last_weights: int = 0                # weights (all channels) of the last K layers
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    schedule: str = "constant"
    total_steps: int = 0
    qas: bool = True
    rounding: str = "nearest"
    seed: int = 1
    shorthand: str | None = None

    def __post_init__(self):
        self.check()

    # ---- construction ---------------------------------------------------------------------------------------
    @staticmethod
    def parse(text_or_path: str | Path, **optimizer) -> "UpdateSpec":
        """A shorthand (full, last-layer, biases:K, last:K) or a path to a TOML file."""
        s = str(text_or_path).strip()
        if isinstance(text_or_path, Path) or s.endswith(".toml") or "\n" in s or s.startswith("[") or "=" in s:
            spec = UpdateSpec.from_toml(text_or_path)
            for k, v in optimizer.items():   # keyword arguments override the file
                if not hasattr(spec, k) or k in ("weights", "shorthand"):
                    raise SpecError(f"unknown update spec option {k!r}")
                setattr(spec, k, v)
            return spec.check()
        return UpdateSpec.shorthand_spec(s, **optimizer)

    @staticmethod
    def shorthand_spec(s: str, **optimizer) -> "UpdateSpec":
        s = s.strip()
        if s == "full":
            return UpdateSpec(all_weights=True, all_biases=True, shorthand=s, **optimizer)
        if s == "last-layer":
            return UpdateSpec(last_weights=1, biases=1, shorthand=s, **optimizer)
        for prefix in ("biases:", "last:"):
            if s.startswith(prefix):
                try:
                    k = int(s[len(prefix):])
                except ValueError:
                    k = 0
                if k <= 0:
                    raise SpecError(f"update shorthand {s!r}: K must be a positive integer, e.g. {prefix}2")
                if prefix == "biases:":
                    return UpdateSpec(biases=k, shorthand=s, **optimizer)
                return UpdateSpec(last_weights=k, biases=k, shorthand=s, **optimizer)
        raise SpecError(f"unknown update shorthand {s!r}; use full, last-layer, biases:K, last:K or a .toml file")

    @staticmethod
    def from_toml(src: str | Path) -> "UpdateSpec":
        s = str(src)
        if "\n" in s or "[" in s and not Path(s).exists():
            text, where = s, "update spec"
        else:
            p = Path(src)
            if not p.exists():
                raise SpecError(f"update spec file {p} does not exist")
            text, where = p.read_text(), str(p)
        try:
            d = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise SpecError(f"{where}: not valid TOML ({e})") from None
        return UpdateSpec.from_dict(d, where)

    @staticmethod
    def from_dict(d: dict, where: str = "update spec") -> "UpdateSpec":
        unknown = set(d) - {"update", "optimizer", "int8"}
        if unknown:
            raise SpecError(f"{where}: unknown tables {sorted(unknown)} (expected update, optimizer, int8)")
        up, opt, q = d.get("update", {}), d.get("optimizer", {}), d.get("int8", {})
        _known(up, ("weights", "biases", "bias_layers", "all_weights", "all_biases", "last_weights", "shorthand"),
               f"{where} [update]")
        _known(opt, ("lr", "momentum", "weight_decay", "schedule", "total_steps"), f"{where} [optimizer]")
        _known(q, ("qas", "rounding", "seed"), f"{where} [int8]")
        weights = []
        for i, w in enumerate(up.get("weights", [])):
            wh = f"{where} [[update.weights]] #{i + 1}"
            _known(w, ("layer", "ratio", "select", "indices"), wh)
            if "layer" not in w:
                raise SpecError(f"{wh}: missing 'layer'")
            if "indices" in w:
                idx = w["indices"]
                if not isinstance(idx, list) or not idx or not all(isinstance(v, int) for v in idx):
                    raise SpecError(f"{wh}: indices must be a non-empty list of integers")
                weights.append(WeightUpdate(str(w["layer"]), Fraction(1), "indices", [int(v) for v in idx]))
            else:
                sel = w.get("select", "magnitude")
                if sel != "magnitude":
                    raise SpecError(f"{wh}: select {sel!r} unknown; use 'magnitude' or give 'indices'")
                weights.append(WeightUpdate(str(w["layer"]), _ratio(w.get("ratio", 1), wh), "magnitude"))
        return UpdateSpec(
            weights=weights, biases=int(up.get("biases", 0)), bias_layers=[str(x) for x in up.get("bias_layers", [])],
            all_weights=bool(up.get("all_weights", False)), all_biases=bool(up.get("all_biases", False)),
            last_weights=int(up.get("last_weights", 0)),
            lr=float(opt.get("lr", 0.01)), momentum=float(opt.get("momentum", 0.0)),
            weight_decay=float(opt.get("weight_decay", 0.0)), schedule=str(opt.get("schedule", "constant")),
            total_steps=int(opt.get("total_steps", 0)),
            qas=bool(q.get("qas", True)), rounding=str(q.get("rounding", "nearest")), seed=int(q.get("seed", 1)),
            shorthand=up.get("shorthand"))

    # ---- checks / output ------------------------------------------------------------------------------------
    def check(self) -> "UpdateSpec":
        if self.biases < 0 or self.last_weights < 0:
            raise SpecError("biases and last_weights must be >= 0")
        if not (math.isfinite(self.lr) and self.lr >= 0):
            raise SpecError(f"learning rate must be a finite number >= 0, got {self.lr}")
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            raise SpecError(f"momentum must be in [0, 1), got {self.momentum}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise SpecError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.schedule not in SCHEDULES:
            raise SpecError(f"schedule {self.schedule!r} unknown; use one of {', '.join(SCHEDULES)}")
        if self.schedule == "cosine" and self.total_steps <= 0:
            raise SpecError("a cosine schedule needs total_steps > 0")
        if self.rounding not in ROUNDINGS:
            raise SpecError(f"rounding {self.rounding!r} unknown; use one of {', '.join(ROUNDINGS)}")
        if not (0 < self.seed < 2**32):
            raise SpecError(f"seed must be in [1, 2^32), got {self.seed}")
        for w in self.weights:
            _ratio(w.ratio, f"layer {w.layer}")
            if w.select not in ("magnitude", "indices"):
                raise SpecError(f"layer {w.layer}: select {w.select!r} unknown; use 'magnitude' or 'indices'")
        names = [w.layer for w in self.weights]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SpecError(f"layers named more than once in [[update.weights]]: {dup}")
        return self

    def to_dict(self) -> dict:
        up: dict = {}
        if self.weights:
            up["weights"] = [w.to_dict() for w in self.weights]
        for k in ("biases", "last_weights"):
            if getattr(self, k):
                up[k] = getattr(self, k)
        if self.bias_layers:
            up["bias_layers"] = list(self.bias_layers)
        for k in ("all_weights", "all_biases"):
            if getattr(self, k):
                up[k] = True
        if self.shorthand:
            up["shorthand"] = self.shorthand
        opt = {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay,
               "schedule": self.schedule, "total_steps": self.total_steps}
        q = {"qas": self.qas, "rounding": self.rounding, "seed": self.seed}
        return {"update": up, "optimizer": opt, "int8": q}

    def to_toml(self) -> str:
        d = self.to_dict()
        out = ["[update]"]
        for k, v in d["update"].items():
            if k != "weights":
                out.append(f"{k} = {_toml_value(v)}")
        for w in d["update"].get("weights", []):
            out += ["", "[[update.weights]]"] + [f"{k} = {_toml_value(v)}" for k, v in w.items()]
        for table in ("optimizer", "int8"):
            out += ["", f"[{table}]"] + [f"{k} = {_toml_value(v)}" for k, v in d[table].items()]
        return "\n".join(out) + "\n"

    # ---- resolution against a graph --------------------------------------------------------------------------
    def resolve(self, graph) -> "ResolvedSpec":
        """Layer -> (weight channels, bias channels) for this graph; raises SpecError for unknown layers."""
        layers = [n for n in graph.nodes if n.op in LAYER_OPS]
        if not layers:
            raise SpecError(f"graph {graph.name} has no layers with parameters ({', '.join(LAYER_OPS)})")
        by_name = {}
        for n in layers:
            by_name[n.name] = n
            if n.source and n.source not in by_name:
                by_name[n.source] = n
        valid = ", ".join(n.name for n in layers)

        def find(name: str):
            if name not in by_name:
                raise SpecError(f"unknown layer {name!r} in the update spec; layers of {graph.name}: {valid}")
            return by_name[name]

        weights: dict[str, np.ndarray] = {}
        biases: dict[str, np.ndarray] = {}
        out_c = {n.name: _out_channels(graph, n) for n in layers}
        if self.all_weights:
            for n in layers:
                weights[n.name] = np.arange(out_c[n.name], dtype=np.int32)
        if self.all_biases:
            for n in layers:
                if _has_bias(n):
                    biases[n.name] = np.arange(out_c[n.name], dtype=np.int32)
        if self.last_weights > len(layers) or self.biases > len(layers):
            raise SpecError(f"the spec names the last {max(self.last_weights, self.biases)} layers but "
                            f"{graph.name} has {len(layers)} ({valid})")
        for n in layers[len(layers) - self.last_weights:] if self.last_weights else []:
            weights[n.name] = np.arange(out_c[n.name], dtype=np.int32)
        for n in layers[len(layers) - self.biases:] if self.biases else []:
            if _has_bias(n):
                biases[n.name] = np.arange(out_c[n.name], dtype=np.int32)
        for name in self.bias_layers:
            n = find(name)
            if not _has_bias(n):
                raise SpecError(f"layer {name!r} has no bias to update")
            biases[n.name] = np.arange(out_c[n.name], dtype=np.int32)
        for w in self.weights:
            n = find(w.layer)
            c = out_c[n.name]
            if w.indices is not None:
                idx = sorted(set(int(i) for i in w.indices))
                bad = [i for i in idx if not 0 <= i < c]
                if bad:
                    raise SpecError(f"layer {w.layer!r}: channel indices {bad} out of range (it has {c} output "
                                    f"channels)")
                weights[n.name] = np.asarray(idx, dtype=np.int32)
            else:
                weights[n.name] = select_channels(graph, n, w.ratio)
        order = [n.name for n in layers]
        return ResolvedSpec({k: weights[k] for k in order if k in weights},
                            {k: biases[k] for k in order if k in biases}, order)


@dataclass
class ResolvedSpec:
    weights: dict[str, np.ndarray]   # node name -> sorted int32 output channels whose weights train
    biases: dict[str, np.ndarray]    # node name -> sorted int32 output channels whose biases train
    layers: list[str]                # every layer in graph order

    def trainable(self) -> bool:
        return bool(self.weights or self.biases)


def _known(d: dict, keys: tuple, where: str) -> None:
    unknown = sorted(set(d) - set(keys))
    if unknown:
        raise SpecError(f"{where}: unknown keys {unknown} (expected {', '.join(keys)})")


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(v)


def _has_bias(node) -> bool:
    return len(node.inputs) >= 3


def _out_channels(graph, node) -> int:
    w = graph.tensor(node.inputs[1])
    return int(w.shape[3] if node.op == "depthwise_conv2d" else w.shape[0])


def channel_norms(graph, node) -> np.ndarray:
    """L2 norm of each output channel's (real-valued) weights."""
    t = graph.tensor(node.inputs[1])
    w = np.asarray(t.data, dtype=np.float64)
    if node.op == "depthwise_conv2d":
        w = w.reshape(-1, w.shape[3]).T          # [C, kh*kw]
    else:
        w = w.reshape(w.shape[0], -1)
    if t.quant is not None and t.dtype == "int8":
        s = np.asarray(t.quant.scale, dtype=np.float64)
        w = w * (s[:, None] if s.size > 1 else s[0])
    return np.sqrt((w * w).sum(axis=1))


def select_channels(graph, node, ratio: Fraction) -> np.ndarray:
    """Top round(ratio * C) (at least 1) channels by L2 norm, ties to the lower index, sorted."""
    norms = channel_norms(graph, node)
    c = norms.size
    k = max(1, int(Fraction(ratio) * c + Fraction(1, 2)))
    order = sorted(range(c), key=lambda i: (-norms[i], i))
    return np.asarray(sorted(order[:k]), dtype=np.int32)
