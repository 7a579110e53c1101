"""The MCUNet-class memory table (examples/mobilenetv2): MobileNetV2-w0.35 at 128x128, int8, planned by toolkit.plan
for a full update, the sparse update of examples/mobilenetv2/sparse.toml, and the same with operator reordering.

Checks: full > sparse > sparse + reordering (peak SRAM); the SRAM-resident trainable bytes equal an independent
count from the torch module (int8 weights + int32 biases of the trained layers, BN folded: one bias per output
channel); every plan's arena holds at least the largest single int8 layer's input + output (from torch forward hooks);
reordering changes the arena only; the table script's Markdown has the paper's numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

if str(ROOT) not in sys.path:  # for examples/_load.py
    sys.path.insert(0, str(ROOT))
from examples._load import load_example_module  # noqa: E402


M = load_example_module("mobilenetv2", "model")
T = load_example_module("mobilenetv2", "table")


@pytest.fixture(scope="module")
def rows():
    g = T.graph("int8", 128, calib=1)
    return {r["key"]: r for r in T.rows("int8", 128, g=g)}


def layer_bytes(net) -> dict[str, int]:
    """Trainable bytes per layer as odl stores them in int8: int8 weights + an int32 bias per output channel."""
    out = {}
    for name, m in net.named_modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            out[name] = m.weight.numel() + 4 * m.weight.shape[0]
    return out


def largest_layer_io(net) -> int:
    """max over conv/linear layers of int8 input + output bytes (batch 1)."""
    best = 0

    def hook(m, inp, out):
        nonlocal best
        best = max(best, inp[0].numel() + out.numel())

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        net(torch.zeros(1, 3, 128, 128))
    for h in hs:
        h.remove()
    return best


def test_order_full_sparse_reorder(rows):
    full, sparse, reo = rows["full"], rows["sparse"], rows["sparse+reorder"]
    assert full["peak_sram_bytes"] > sparse["peak_sram_bytes"] > reo["peak_sram_bytes"]
    # the sparse update is an order of magnitude below the full update, as in the paper (2939 -> 335 KB)
    assert full["peak_sram_bytes"] > 4 * sparse["peak_sram_bytes"]


def test_trainable_bytes_match_an_independent_count(rows):
    net = M.build()
    per_layer = layer_bytes(net)
    assert rows["full"]["sram_breakdown"]["sram_trainable"] == sum(per_layer.values())
    # sparse.toml: weights of four layers (whole tensors live in SRAM), biases of the last 12 layers
    layers = list(per_layer)
    weights = {"features.15.conv.0", "features.16.conv.0", "features.17.conv.0", "features.18.0", "classifier.1"}
    expect = 0
    for name in layers:
        w = dict(net.named_modules())[name].weight
        if name in weights:
            expect += w.numel()
        if name in layers[-12:]:
            expect += 4 * w.shape[0]
    assert rows["sparse"]["sram_breakdown"]["sram_trainable"] == expect
    assert rows["sparse+reorder"]["sram_breakdown"]["sram_trainable"] == expect


def test_arena_holds_the_largest_layer(rows):
    need = largest_layer_io(M.build())
    for r in rows.values():
        assert r["arena_bytes"] >= need
    # reordering only shrinks the arena (gradients die at once); the SRAM-resident parts are unchanged
    a, b = rows["sparse"], rows["sparse+reorder"]
    assert a["peak_sram_bytes"] - b["peak_sram_bytes"] == a["arena_bytes"] - b["arena_bytes"] > 0


def test_markdown_has_paper_numbers(rows):
    md = T.markdown(list(rows.values()))
    for kb in (2939, 335, 141):
        assert f"| {kb} |" in md
    assert np.isfinite([r["peak_sram_bytes"] for r in rows.values()]).all()
