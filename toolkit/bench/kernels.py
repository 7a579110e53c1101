"""`odl bench kernels --board host`: GMAC/s of every matmul-based kernel on the host, per code path, next to the
same op in PyTorch (one thread, same shapes) as a ratio.

Each record: kernel, dtype (int8/fp16/fp32), pass (forward/weight_grad/input_grad), path (reference/host), shape,
macs, seconds, gmacs, torch_seconds, torch_gmacs, ratio (gmacs / torch_gmacs) and torch_impl (what torch ran).
MACs count padding taps (as the CMSIS-NN figures in ../shared/anchors.md do). Timing is wall clock, best of three
repeats of a loop of at least ``min_time`` seconds, through the Python wrapper (so small shapes include ~10-30 us of
call overhead, as a user of the wrappers sees it). int8 backward passes are the FP32 backward of int8 layers
(toolkit.host.train_s8); torch runs them in fp32.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from toolkit.bench.timing import seconds_per_call

RESULTS_DIR = Path(__file__).resolve().parents[2] / "bench" / "results"


@dataclass(frozen=True)
class ConvShape:
    """A layer shape: conv (kh, kw > 0), depthwise (depthwise=True) or fully connected (h = w = 0)."""

    name: str
    h: int
    w: int
    cin: int
    cout: int
    k: int = 3
    stride: int = 1
    depthwise: bool = False

    @property
    def fc(self) -> bool:
        return self.h == 0

    @property
    def pointwise(self) -> bool:
        return not self.fc and self.k == 1 and self.stride == 1

    @property
    def kernel(self) -> str:
        if self.fc:
            return "fully_connected"
        if self.depthwise:
            return "depthwise_conv2d"
        return "pointwise_conv2d" if self.pointwise else "conv2d"

    @property
    def out_hw(self) -> tuple[int, int]:
        return -(-self.h // self.stride), -(-self.w // self.stride)  # SAME padding

    @property
    def macs(self) -> int:
        if self.fc:
            return self.cin * self.cout
        oh, ow = self.out_hw
        per_out = self.k * self.k * (1 if self.depthwise else self.cin)
        return oh * ow * self.cout * per_out

    def describe(self) -> str:
        if self.fc:
            return f"{self.cin}->{self.cout}"
        kind = "dw " if self.depthwise else ""
        return f"{self.h}x{self.w}x{self.cin}->{self.cout} {kind}k{self.k} s{self.stride} SAME"


# The CMSIS-NN anchor shapes (../shared/anchors.md) plus one larger conv where the matmul dominates.
SHAPES = [
    ConvShape("conv3x3", 16, 16, 16, 16, k=3),
    ConvShape("conv1x1", 16, 16, 32, 32, k=1),
    ConvShape("dw3x3", 16, 16, 32, 32, k=3, depthwise=True),
    ConvShape("fc", 0, 0, 256, 64),
    ConvShape("conv3x3_large", 32, 32, 32, 64, k=3),
]
QUICK_SHAPES = SHAPES[:4]

PASSES = ("forward", "weight_grad", "input_grad")


def _rng_data(s: ConvShape, dtype, rng):
    """x, w, dy arrays for shape ``s`` in numpy layouts (NHWC / OHWI / 1HWC)."""
    if s.fc:
        x = rng.standard_normal((1, s.cin))
        w = rng.standard_normal((s.cout, s.cin))
        dy = rng.standard_normal((1, s.cout))
    else:
        oh, ow = s.out_hw
        x = rng.standard_normal((1, s.h, s.w, s.cin))
        w = rng.standard_normal((1, s.k, s.k, s.cin) if s.depthwise else (s.cout, s.k, s.k, s.cin))
        dy = rng.standard_normal((1, oh, ow, s.cout))
    if dtype == "int8":
        return (rng.integers(-128, 128, x.shape).astype(np.int8), rng.integers(-127, 128, w.shape).astype(np.int8),
                dy.astype(np.float32))
    npdt = np.float16 if dtype == "fp16" else np.float32
    return x.astype(npdt), w.astype(npdt), dy.astype(npdt)


def _ours(s: ConvShape, dtype: str, pas: str, path: str, rng) -> Callable[[], object]:
    """A zero-argument callable running our kernel once on fixed data."""
    x, w, dy = _rng_data(s, dtype, rng)
    if dtype == "int8":
        return _ours_s8(s, pas, path, x, w, dy)
    from toolkit.host import kernels_fp as K

    kw = {} if s.fc or s.pointwise else {"stride": s.stride, "padding": "same"}
    if pas == "forward":
        fn = {"conv2d": K.conv2d_forward, "depthwise_conv2d": K.depthwise_conv2d_forward,
              "pointwise_conv2d": K.pointwise_conv2d_forward, "fully_connected": K.fully_connected_forward}[s.kernel]
        return lambda: fn(x, w, None, path=path, **kw)
    if pas == "weight_grad":
        if s.kernel == "conv2d":
            return lambda: K.conv2d_weight_grad(x, dy, kernel=(s.k, s.k), path=path, **kw)
        if s.kernel == "depthwise_conv2d":
            return lambda: K.depthwise_conv2d_weight_grad(x, dy, kernel=(s.k, s.k), path=path, **kw)
        fn = K.pointwise_conv2d_weight_grad if s.pointwise else K.fully_connected_weight_grad
        return lambda: fn(x, dy, path=path)
    if s.kernel in ("conv2d", "depthwise_conv2d"):
        fn = K.conv2d_input_grad if s.kernel == "conv2d" else K.depthwise_conv2d_input_grad
        return lambda: fn(dy, w, x_shape=x.shape, path=path, **kw)
    fn = K.pointwise_conv2d_input_grad if s.pointwise else K.fully_connected_input_grad
    return lambda: fn(dy, w, path=path)


def _ours_s8(s: ConvShape, pas: str, path: str, x, w, dy) -> Callable[[], object]:
    from toolkit.host import kernels_s8 as K8
    from toolkit.host import train_s8 as T8
    from toolkit.host import use_path

    cout = s.cout
    mult = np.full(cout, 1 << 30, np.int32)
    shift = np.full(cout, -8, np.int32)
    q = dict(input_zp=-3, output_zp=5, multiplier=mult, shift=shift, path=path)
    bias = np.arange(cout, dtype=np.int32)
    wscale = np.full(cout, 0.01, np.float32)
    if pas == "forward":
        if s.kernel == "conv2d":
            return lambda: K8.conv2d_s8(x, w, bias, stride=(s.stride, s.stride), padding="SAME", **q)
        if s.kernel == "depthwise_conv2d":
            return lambda: K8.depthwise_conv2d_s8(x, w, bias, stride=(s.stride, s.stride), padding="SAME", **q)
        if s.kernel == "pointwise_conv2d":
            return lambda: K8.pointwise_conv2d_s8(x, w, bias, **q)
        return lambda: K8.fully_connected_s8(x, w, bias, **q)

    def in_path(fn):
        def run():
            with use_path(path):
                return fn()
        return run

    geo = dict(stride=s.stride, padding="same")
    if pas == "weight_grad":
        if s.kernel == "conv2d":
            return in_path(lambda: T8.conv2d_s8_weight_grad_f32(dy, x, 0.02, -3, wscale, (s.k, s.k), **geo))
        if s.kernel == "depthwise_conv2d":
            return in_path(lambda: T8.depthwise_conv2d_s8_weight_grad_f32(dy, x, 0.02, -3, wscale, (s.k, s.k), **geo))
        if s.kernel == "pointwise_conv2d":
            return in_path(lambda: T8.pointwise_conv2d_s8_weight_grad_f32(dy, x, 0.02, -3, wscale))
        return in_path(lambda: T8.fully_connected_s8_weight_grad_f32(dy, x, 0.02, -3, wscale))
    if s.kernel == "conv2d":
        return in_path(lambda: T8.conv2d_s8_input_grad_f32(dy, w, wscale, x.shape, **geo))
    if s.kernel == "depthwise_conv2d":
        return in_path(lambda: T8.depthwise_conv2d_s8_input_grad_f32(dy, w, wscale, x.shape, **geo))
    if s.kernel == "pointwise_conv2d":
        return in_path(lambda: T8.pointwise_conv2d_s8_input_grad_f32(dy, w, wscale))
    return in_path(lambda: T8.fully_connected_s8_input_grad_f32(dy, w, wscale))


def _torch(s: ConvShape, dtype: str, pas: str, rng) -> tuple[Callable[[], object], str]:
    """The same op in PyTorch eager (NCHW), and a description of what runs."""
    import torch
    import torch.nn.functional as F

    tdt = torch.float16 if dtype == "fp16" else torch.float32
    groups = s.cin if s.depthwise else 1
    pad = s.k // 2
    if s.fc:
        x = torch.randn(1, s.cin, dtype=tdt)
        w = torch.randn(s.cout, s.cin, dtype=tdt)
        dy = torch.randn(1, s.cout, dtype=tdt)
    else:
        oh, ow = s.out_hw
        x = torch.randn(1, s.cin, s.h, s.w, dtype=tdt)
        w = torch.randn(s.cout, s.cin // groups, s.k, s.k, dtype=tdt)
        dy = torch.randn(1, s.cout, oh, ow, dtype=tdt)
    if dtype == "int8" and pas == "forward":
        import torch.ao.nn.quantized.functional as qF

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xq = torch.quantize_per_tensor(x, 0.05, 3, torch.quint8)
            wq = torch.quantize_per_channel(w, torch.full((s.cout,), 0.01), torch.zeros(s.cout, dtype=torch.long), 0,
                                            torch.qint8)
        b = torch.zeros(s.cout)
        if s.fc:
            return (lambda: qF.linear(xq, wq, b, scale=0.1, zero_point=0)), "quantized linear (fbgemm/x86)"
        return (lambda: qF.conv2d(xq, wq, b, stride=s.stride, padding=pad, groups=groups, scale=0.1, zero_point=0),
                "quantized conv2d (fbgemm/x86)")
    what = f"{'fp32' if dtype == 'int8' else dtype} eager"
    if s.fc:
        if pas == "forward":
            return (lambda: F.linear(x, w)), what
        if pas == "weight_grad":
            return (lambda: dy.t() @ x), what
        return (lambda: dy @ w), what
    if pas == "forward":
        return (lambda: F.conv2d(x, w, stride=s.stride, padding=pad, groups=groups)), what
    if pas == "weight_grad":
        return (lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, stride=s.stride, padding=pad, groups=groups)), what
    return (lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, stride=s.stride, padding=pad, groups=groups)), what


def bench_host(dtypes=("int8", "fp16", "fp32"), passes=PASSES, shapes=None, paths=("reference", "host"),
               min_time: float = 0.05, progress: bool = True) -> list[dict]:
    """Run the host kernel benchmark and return its records."""
    import torch
    from tqdm import tqdm

    torch.set_num_threads(1)
    shapes = SHAPES if shapes is None else shapes
    jobs = [(s, d, p) for d in dtypes for s in shapes for p in passes]
    records = []
    rng = np.random.default_rng(0)
    for s, dtype, pas in tqdm(jobs, desc="bench kernels (host)", disable=not progress, unit="case"):
        tfn, timpl = _torch(s, dtype, pas, rng)
        tsec = seconds_per_call(tfn, min_time=min_time)
        for path in paths:
            sec = seconds_per_call(_ours(s, dtype, pas, path, rng), min_time=min_time)
            gm = s.macs / sec / 1e9
            tg = s.macs / tsec / 1e9
            records.append({
                "kernel": s.kernel, "dtype": dtype, "pass": pas, "path": path, "shape": s.describe(),
                "macs": s.macs, "seconds": sec, "gmacs": gm, "torch_seconds": tsec, "torch_gmacs": tg,
                "ratio": gm / tg, "torch_impl": timpl, "board": "host",
            })
    return records


def format_table(records: list[dict]) -> str:
    """A Markdown table of the records."""
    head = "| kernel | dtype | pass | shape | path | MACs | GMAC/s | torch GMAC/s | ours/torch |\n"
    head += "|---|---|---|---|---|---:|---:|---:|---:|\n"
    rows = [f"| {r['kernel']} | {r['dtype']} | {r['pass']} | {r['shape']} | {r['path']} | {r['macs']} | "
            f"{r['gmacs']:.3f} | {r['torch_gmacs']:.3f} | {r['ratio']:.2f} |" for r in records]
    return head + "\n".join(rows) + "\n"


def save_results(records: list[dict], name: str = "host-kernels") -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{name}.json"
    meta = {"machine": platform.machine(), "processor": platform.processor(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"), "torch_threads": 1}
    out.write_text(json.dumps({"meta": meta, "records": records}, indent=1) + "\n")
    return out
