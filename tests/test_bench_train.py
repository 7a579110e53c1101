"""`odl bench train` (toolkit/bench/train.py): the PyTorch memory tracker against hand-counted tensor sizes, and the
command end to end on one row (the generated C is built through cffi, cached by content)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from toolkit.bench.train import TensorMemory
from toolkit.cli import main


def test_tensor_memory_counts_live_storages():
    # a 1 MB temporary that dies before a 0.5 MB one is allocated: peak = static + 1 MB (+ the small sum), not 1.5 MB
    x = torch.zeros(1024)  # 4 KB, static
    mem = TensorMemory([x])
    assert mem.static_bytes == 4096
    with mem.mode():
        a = torch.ones(256 * 1024)  # 1 MB
        s = a.sum()
        del a
        b = torch.ones(128 * 1024)  # 0.5 MB, after `a` was freed
        _ = b + 1  # another 0.5 MB while b is alive
    assert mem.peak == 4096 + (1 << 20) + s.untyped_storage().nbytes()
    # views share their storage: counted once
    mem2 = TensorMemory()
    with mem2.mode():
        c = torch.ones(1000)
        _v = c[10:20].view(2, 5)
    assert mem2.peak == 4000


def test_tensor_memory_sees_saved_activations_in_backward():
    # Linear 64 -> 4096 -> 10: the 16 KB hidden activation is saved only when something before it trains
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 10))
    x = torch.randn(1, 64)

    def peak(train_first: bool) -> int:
        for p in net[0].parameters():
            p.requires_grad_(train_first)
        for p in net[2].parameters():
            p.requires_grad_(True)
            p.grad = None
        static = list(net.parameters()) + [x]
        mem = TensorMemory(static)
        with mem.mode():
            torch.nn.functional.cross_entropy(net(x), torch.tensor([3])).backward()
        return mem.peak - mem.static_bytes

    first = peak(True)
    last = peak(False)
    w1 = 64 * 4096 * 4
    assert first >= w1 + 4096 * 4          # the first layer's weight gradient (1 MB) and its output
    assert last < w1 / 4                   # no weight gradient of the first layer, nothing big saved
    assert np.isfinite([first, last]).all()


def test_cli_bench_train_one_row(capsys):
    rc = main(["bench", "train", "--board", "host", "--precision", "fp32", "--update", "last-layer", "--quick",
               "--json", "--no-save"])
    assert rc == 0
    recs = json.loads(capsys.readouterr().out)
    assert len(recs) == 1
    r = recs[0]
    assert r["precision"] == "fp32" and r["update"] == "last-layer" and r["trained_tensors"] == 2
    assert r["odl_us"] > 0 and r["torch_us"] > 0 and r["speedup"] == pytest.approx(r["torch_us"] / r["odl_us"])
    # torch keeps at least every parameter in RAM (6.3 K fp32 values); the plan keeps at least the trained fc (330)
    assert r["torch_peak_bytes"] >= 6330 * 4
    assert r["plan_peak_sram_bytes"] >= 330 * 4


def test_cli_bench_train_refuses_unknown_and_real_boards(capsys):
    assert main(["bench", "train", "--board", "nucleo-f746zg", "--no-save"]) == 1
    assert "nucleo-f746zg" in capsys.readouterr().err
    assert main(["bench", "train", "--board", "stm32f746g-disco", "--no-save"]) == 1
    assert "emulated board" in capsys.readouterr().err


@pytest.mark.qemu
def test_cli_bench_train_on_an_emulated_board(capsys):
    """Instructions per training step on qemu-rv32 (minstret, exact): the RVV kernels take fewer than the reference,
    and the stack-painted peak stays within the planner's figure (which budgets the whole stack)."""
    rc = main(["bench", "train", "--board", "qemu-rv32", "--precision", "int8", "--json", "--no-save"])
    assert rc == 0
    recs = {r["kernels"]: r for r in json.loads(capsys.readouterr().out)}
    ref, simd = recs["reference"], recs["simd"]
    assert simd["instructions_per_train_step"] * 2 < ref["instructions_per_train_step"]
    assert simd["instructions_per_inference"] < simd["instructions_per_train_step"]
    for r in (ref, simd):
        assert 0 < r["stack_used_bytes"] <= r["stack_size_bytes"]
        assert r["measured_peak_sram_bytes"] <= r["planned_peak_sram_bytes"]
