"""`odl bench train --board host`: one training step (batch 1) of odl's generated C, built for the host and called
through cffi, next to PyTorch eager (one thread) on the same model and the same update; and the planner's peak
training memory next to PyTorch's measured peak.

For every (precision, update) pair the model is lowered (toolkit.train.build_program), planned (toolkit.plan) and
compiled (toolkit.emulate.compile_program, the code `odl emulate` runs). Timing is wall clock of
``odl_model_train_step`` through cffi (best of seven loops; includes the cffi call, ~1 us), and of
``zero_grad + forward + cross_entropy + backward + SGD.step`` in torch with ``torch.set_num_threads(1)``.

PyTorch trains the same parameters (``requires_grad`` only for the tensors the Program trains). It has no
channel-sparse weight gradient: for a layer with a channel slice torch computes the full weight gradient (that is
what a PyTorch user writes); its momentum covers the whole tensor. PyTorch has no int8 training, so int8 rows compare
against torch fp32 on the same update.

Memory: odl's number is the plan's ``peak_sram_bytes`` (arena + SRAM-resident trainable tensors and optimizer state
+ io + stack estimate; Flash-resident frozen weights are excluded). PyTorch's number is measured: every tensor
storage alive during one training step (parameters, gradients, optimizer state, input, activations saved for the
backward, temporaries), tracked per ATen op through a TorchDispatchMode with weak references to the storages (a
storage freed between two ops is not counted at the second); ``torch_peak_bytes`` is the maximum. Weights count in
both columns' "total" only for torch (they live in RAM there); ``torch_peak_nonparam_bytes`` excludes frozen
parameters, for a like-for-like view with the plan.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np

from toolkit.bench.timing import seconds_per_call

RESULTS_DIR = Path(__file__).resolve().parents[2] / "bench" / "results"

# The sparse update used for the built-in model (the digits example's scheme, examples/digits/schemes/sparse.toml).
SPARSE_TOML = """
[update]
biases = 6
[[update.weights]]
layer = "down"
ratio = "1/4"
[[update.weights]]
layer = "head"
ratio = "1/2"
[[update.weights]]
layer = "fc"
ratio = "1"
[optimizer]
lr = 0.001
momentum = 0.9
"""


def digits_cnn(seed: int = 0, width: int = 8):
    """The digits example's CNN (examples/digits/model.py): 16x16x1 input, conv, depthwise-separable block, max pool,
    strided conv, pointwise conv, global average pool, linear; random weights."""
    import torch
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.dw = nn.Conv2d(cin, cin, 3, padding=1, groups=cin)
            self.pw = nn.Conv2d(cin, cout, 1)

        def forward(self, x):
            return torch.relu(self.pw(nn.functional.relu6(self.dw(x))))

    class DigitsCNN(nn.Module):
        def __init__(self, w):
            super().__init__()
            self.stem = nn.Conv2d(1, w, 3, padding=1)
            self.block = Block(w, 2 * w)
            self.pool = nn.MaxPool2d(2)
            self.down = nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1)
            self.head = nn.Conv2d(4 * w, 4 * w, 1)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(4 * w, 10)

        def forward(self, x):
            x = self.pool(self.block(torch.relu(self.stem(x))))
            x = torch.relu(self.head(torch.relu(self.down(x))))
            return self.fc(torch.flatten(self.gap(x), 1))

    torch.manual_seed(seed)
    return DigitsCNN(width).eval(), (1, 1, 16, 16)


class TensorMemory:
    """Peak bytes of live tensor storages while active (a TorchDispatchMode; see the module docstring)."""

    def __init__(self, static=()):
        from torch.multiprocessing.reductions import StorageWeakRef

        self._ref = StorageWeakRef
        self.live: dict[int, tuple] = {}
        self.current = 0
        self.peak = 0
        for t in static:
            self._add(t)
        self.static_bytes = self.current

    def _add(self, t) -> None:
        st = t.untyped_storage()
        key = st.data_ptr()
        if st.nbytes() == 0 or key in self.live:
            return
        self.live[key] = (self._ref(st), st.nbytes())
        self.current += st.nbytes()
        self.peak = max(self.peak, self.current)

    def _sweep(self) -> None:
        for k in [k for k, (ref, _) in self.live.items() if ref.expired()]:
            self.current -= self.live.pop(k)[1]

    def mode(self):
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_leaves

        tracker = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                tracker._sweep()
                out = func(*args, **(kwargs or {}))
                for t in tree_leaves(out):
                    if isinstance(t, torch.Tensor):
                        tracker._add(t)
                return out

        return _Mode()


def _torch_setup(module, spec, trained_names: set[str], input_shape):
    import torch

    net = module.train(False)
    params = dict(net.named_parameters())
    missing = sorted(trained_names - set(params))
    if missing:
        raise KeyError(f"trained tensors without a torch parameter of the same name: {missing}")
    for n, p in params.items():
        p.requires_grad_(n in trained_names)
    opt = torch.optim.SGD([params[n] for n in sorted(trained_names)], lr=spec.lr, momentum=spec.momentum,
                          weight_decay=spec.weight_decay)
    x = torch.randn(input_shape, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([1])

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    return net, opt, x, y, step


def torch_step_memory(net, opt, x, y, step) -> dict:
    """Peak tensor bytes of one torch training step (after a warm-up step, so optimizer state exists)."""
    step()
    static = [p for p in net.parameters()] + [b for b in net.buffers()] + [x, y]
    for st in opt.state.values():
        static += [v for v in st.values() if hasattr(v, "untyped_storage")]
    frozen = sum(p.numel() * p.element_size() for p in net.parameters() if not p.requires_grad)
    mem = TensorMemory(static)
    with mem.mode():
        step()
    return {"torch_peak_bytes": mem.peak, "torch_static_bytes": mem.static_bytes,
            "torch_peak_nonparam_bytes": mem.peak - frozen}


def bench_one(module, input_shape, spec, precision: str, min_time: float = 0.2, name: str = "model",
              spec_name: str = "") -> dict:
    """One record: odl C vs torch step time, plan peak vs torch peak, for ``module`` trained per ``spec``."""
    import copy

    import torch

    from toolkit.emulate import compile_program, prepare_graph, to_model_input
    from toolkit.frontends import from_torch
    from toolkit.train.lower import build_program

    torch.set_num_threads(1)
    graph = from_torch(copy.deepcopy(module), input_shape)
    rng = np.random.default_rng(0)
    calib = rng.uniform(0, 1, (8,) + tuple(input_shape[1:])).astype(np.float32)
    graph = prepare_graph(graph, precision, calib=calib)
    program = build_program(graph, spec, precision)
    plan, m = compile_program(program)
    xin = to_model_input(graph, calib[:1], program.buffers[program.input].dtype)
    m.write("lr", np.zeros(1, np.float32))  # timing only: keep the weights (and the step's work) unchanged
    odl_s = seconds_per_call(lambda: m.train_step(xin, 1), min_time=min_time, repeats=7)

    trained = set(program.trained_tensors())
    net, opt, x, y, step = _torch_setup(copy.deepcopy(module), spec, trained, input_shape)
    for g in opt.param_groups:
        g["lr"] = 0.0
    torch_s = seconds_per_call(step, min_time=min_time, repeats=7)
    mem = torch_step_memory(net, opt, x, y, step)
    return {"model": name, "precision": precision, "update": spec_name or str(spec.shorthand or "custom"),
            "trained_tensors": len(trained), "odl_us": odl_s * 1e6, "torch_us": torch_s * 1e6,
            "speedup": torch_s / odl_s, "plan_peak_sram_bytes": plan.peak_sram_bytes,
            "plan_arena_bytes": plan.arena_bytes, **mem,
            "memory_ratio": mem["torch_peak_bytes"] / plan.peak_sram_bytes}


def load_pt2(path):
    """(nn.Module, input shape) from a .pt2 written by torch.export.save (static batch-1 shape)."""
    import torch

    from toolkit.errors import OdlError

    p = Path(path)
    if not p.exists():
        raise OdlError(f"{p}: no such file")
    if p.suffix.lower() != ".pt2":
        raise OdlError(f"{p}: odl bench train reads .pt2 files (torch.export.save)")
    ep = torch.export.load(str(p))
    x = ep.example_inputs[0][0] if ep.example_inputs else None
    if x is None:
        raise OdlError(f"{p}: the exported program has no example input to take the input shape from")
    return ep.module(), tuple(x.shape)


def bench_host(precisions=("fp32", "fp16", "int8"), updates=("last-layer", "sparse", "full"), model=None,
               min_time: float = 0.2, progress: bool = False) -> list[dict]:
    """Records for every precision x update on ``model`` (an (nn.Module, input_shape) pair; default: the digits
    CNN). Updates: shorthands, "sparse" (SPARSE_TOML) or TOML paths."""
    import sys

    from toolkit.train.spec import UpdateSpec

    module, shape = model if model is not None else digits_cnn()
    name = type(module).__name__
    out = []
    for u in updates:
        spec = UpdateSpec.parse(SPARSE_TOML) if u == "sparse" else UpdateSpec.parse(u, momentum=0.9)
        for p in precisions:
            t0 = time.perf_counter()
            rec = bench_one(module, shape, spec, p, min_time=min_time, name=name, spec_name=str(u))
            out.append(rec)
            if progress:
                print(f"  {p:5s} {u:12s} odl {rec['odl_us']:9.1f} us  torch {rec['torch_us']:9.1f} us  "
                      f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return out


def format_table(records: list[dict]) -> str:
    head = ("| model | precision | update | odl C step (us) | PyTorch step (us) | speed-up | plan peak SRAM (KB) "
            "| PyTorch peak (KB) | PyTorch peak without frozen weights (KB) |")
    lines = [head, "|" + "---|" * 9]
    for r in records:
        lines.append(f"| {r['model']} | {r['precision']} | {r['update']} | {r['odl_us']:.1f} | {r['torch_us']:.1f} "
                     f"| {r['speedup']:.1f}x | {r['plan_peak_sram_bytes'] / 1024:.1f} "
                     f"| {r['torch_peak_bytes'] / 1024:.1f} | {r['torch_peak_nonparam_bytes'] / 1024:.1f} |")
    return "\n".join(lines)


def save_results(records: list[dict], name: str = "host-train") -> Path:
    import json

    import torch

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{name}.json"
    meta = {"machine": platform.machine(), "processor": platform.processor(), "python": platform.python_version(),
            "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "torch_threads": 1}
    out.write_text(json.dumps({"meta": meta, "records": records}, indent=1) + "\n")
    return out
