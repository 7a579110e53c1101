"""Memory planner: no two buffers alive at the same time overlap, the peak is bounded by the live sums, packing beats
the naive sum, plans are deterministic, budgets refuse with the largest contributors named."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.ir import Graph, Node, Tensor
from toolkit.plan import Region, format_plan, pack, plan_memory, plot_plan
from toolkit.train.program import Buf, Buffer, Float, Int, Null, Program, Scratch, ScratchSize, Step, Struct


# --------------------------------------------------------------------------------------------------------------
# A hand-made FP32 Program: conv3x3 (VALID) + relu (1-bit mask) + fully connected, softmax-CE, full backward with
# SGD-momentum updates applied right after each gradient (operator reordering). Real kernels of kernels_fp.h /
# train_step.h with their exact argument lists.

def conv_params(h, w, cin, cout, k):
    oh, ow = h - k + 1, w - k + 1
    return {"in": {"n": 1, "h": h, "w": w, "c": cin}, "out_c": cout,
            "win": {"kernel_h": k, "kernel_w": k, "stride_h": 1, "stride_w": 1, "dilation_h": 1, "dilation_w": 1,
                    "pad_top": 0, "pad_left": 0, "out_h": oh, "out_w": ow}}


def handmade_program(h=6, w=6, cin=2, cout=3, ncls=4, lr=0.05, momentum=0.9, seed=0, fc_out_shape=None):
    rng = np.random.default_rng(seed)
    k = 3
    oh, ow = h - k + 1, w - k + 1
    feat = oh * ow * cout
    cw = (rng.standard_normal((cout, k, k, cin)) * 0.3).astype(np.float32)
    cb = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    fw = (rng.standard_normal((ncls, feat)) * 0.2).astype(np.float32)
    fb = (rng.standard_normal(ncls) * 0.1).astype(np.float32)
    tensors = {
        "x": Tensor("x", (1, h, w, cin), kind="input"),
        "conv.w": Tensor("conv.w", cw.shape, kind="param", data=cw),
        "conv.b": Tensor("conv.b", cb.shape, kind="param", data=cb),
        "y": Tensor("y", (1, oh, ow, cout)),
        "f": Tensor("f", (1, feat)),
        "fc.w": Tensor("fc.w", fw.shape, kind="param", data=fw),
        "fc.b": Tensor("fc.b", fb.shape, kind="param", data=fb),
        "logits": Tensor("logits", (1, ncls), kind="output"),
    }
    nodes = [Node("conv", "conv2d", ["x", "conv.w", "conv.b"], ["y"],
                  {"kernel": (3, 3), "stride": (1, 1), "dilation": (1, 1), "pad": (0, 0, 0, 0), "activation": "relu"}),
             Node("flat", "reshape", ["y"], ["f"], {"shape": (1, feat)}),
             Node("fc", "fully_connected", ["f", "fc.w", "fc.b"], ["logits"], {"activation": "none"})]
    graph = Graph("handmade", tensors, nodes, ["x"], ["logits"])
    B = {}

    def buf(name, shape, dtype, storage, init=None, tid=None, ir=None, kind=""):
        B[name] = Buffer(name, shape, dtype, storage, init, tid, ir, kind)

    buf("x", (1, h, w, cin), "float32", "io", tid=1, kind="input")
    buf("label", (1,), "int32", "io", tid=2, kind="label")
    buf("logits", fc_out_shape or (1, ncls), "float32", "io", tid=3, kind="logits")
    buf("loss", (1,), "float32", "io", tid=4, kind="loss")
    buf("conv_w", cw.shape, "float32", "sram", cw, 10, "conv.w", "weight")
    buf("conv_b", cb.shape, "float32", "sram", cb, 11, "conv.b", "bias")
    buf("fc_w", fw.shape, "float32", "sram", fw, 12, "fc.w", "weight")
    buf("fc_b", fb.shape, "float32", "sram", fb, 13, "fc.b", "bias")
    for n in ("conv_w", "conv_b", "fc_w", "fc_b"):
        buf(n + "_mom", B[n].shape, "float32", "sram", np.zeros(B[n].shape, np.float32), None, None, "momentum")
    buf("lr", (1,), "float32", "sram", np.array([lr], np.float32), 20, None, "lr")
    buf("y_pre", (1, oh, ow, cout), "float32", "arena", kind="activation")
    buf("y", (1, oh, ow, cout), "float32", "arena", kind="saved")
    buf("y_mask", ((feat + 7) // 8,), "uint8", "arena", kind="mask")
    buf("d_logits", (1, ncls), "float32", "arena", kind="grad")
    buf("d_fc_w", fw.shape, "float32", "arena", kind="grad")
    buf("d_fc_b", fb.shape, "float32", "arena", kind="grad")
    buf("d_y", (1, oh, ow, cout), "float32", "arena", kind="grad")
    buf("d_conv_w", cw.shape, "float32", "arena", kind="grad")
    buf("d_conv_b", cb.shape, "float32", "arena", kind="grad")
    P = conv_params(h, w, cin, cout, k)
    scratch = oh * ow * k * k * cin * 4  # all im2col rows
    conv = Struct("odl_conv_f_params", P)

    def forward(out_logits, with_mask):
        s = [Step("odl_conv2d_f32_forward", [conv, Buf("x"), Buf("conv_w"), Buf("conv_b"), Buf("y_pre"),
                                             Scratch(scratch), ScratchSize(scratch)], "forward", "conv")]
        if with_mask:
            s.append(Step("odl_relu_f32_forward_mask", [Buf("y_pre"), Buf("y"), Buf("y_mask"), Int(feat)],
                          "forward", "conv"))
        else:
            s.append(Step("odl_relu_f32_forward", [Buf("y_pre"), Buf("y"), Int(feat)], "forward", "conv"))
        s.append(Step("odl_fully_connected_f32_forward", [Buf("y"), Buf("fc_w"), Buf("fc_b"), Buf(out_logits),
                                                          Int(1), Int(feat), Int(ncls)], "forward", "fc"))
        return s

    def sgd(name, n):
        return Step("odl_sgd_f32_update_slice", [Buf(name), Buf("d_" + name), Buf(name + "_mom"), Int(n), Int(n),
                                                 Int(1), Null(), Int(1), Buf("lr"), Float(momentum), Float(0.0)],
                    "update", name)

    infer = forward("logits", False)
    train = forward("logits", True) + [
        Step("odl_softmax_cross_entropy_f32_label", [Buf("logits"), Int(ncls), Buf("label"), Buf("loss"),
                                                     Buf("d_logits")], "loss", "loss"),
        Step("odl_fully_connected_f32_weight_grad", [Buf("y"), Buf("d_logits"), Buf("d_fc_w"), Buf("d_fc_b"),
                                                     Int(1), Int(feat), Int(ncls)], "backward", "fc"),
        Step("odl_fully_connected_f32_input_grad", [Buf("d_logits"), Buf("fc_w"), Buf("d_y"), Int(1), Int(feat),
                                                    Int(ncls)], "backward", "fc"),
        sgd("fc_w", feat), sgd("fc_b", 1),
        Step("odl_relu_mask_f32_backward", [Buf("y_mask"), Buf("d_y"), Buf("d_y"), Int(feat)], "backward", "conv"),
        Step("odl_conv2d_f32_weight_grad", [conv, Buf("x"), Buf("d_y"), Buf("d_conv_w"), Buf("d_conv_b"),
                                            Scratch(scratch), ScratchSize(scratch)], "backward", "conv"),
        sgd("conv_w", k * k * cin), sgd("conv_b", 1),
    ]
    # sgd slices: channel-sliced kernel over all channels (count = out channels, k = elements per channel)
    for s_ in train:
        if s_.kernel == "odl_sgd_f32_update_slice":
            name = s_.args[0].name
            ch = B[name].shape[0]
            s_.args[6] = Null()
            s_.args[7] = Int(ch)
    return Program(graph, "fp32", None, B, infer, train, "x", "label", "logits", "loss")


# --------------------------------------------------------------------------------------------------------------

def _assert_no_live_overlap(layout):
    regs = layout.regions
    for i, a in enumerate(regs):
        assert a.offset >= 0 and a.offset % 16 == 0
        for b in regs[i + 1:]:
            if a.first <= b.last and b.first <= a.last:  # alive at the same time
                assert a.offset + a.nbytes <= b.offset or b.offset + b.nbytes <= a.offset, (a, b)


def test_handmade_program_plan():
    prog = handmade_program()
    plan = plan_memory(prog, mode="train")
    for lay in plan.layouts.values():
        _assert_no_live_overlap(lay)
        live_max = max(t["live_bytes"] for t in lay.timeline)
        total = sum(r.nbytes for r in lay.regions)
        assert live_max <= lay.arena_bytes <= sum(r.extent for r in lay.regions)
        assert lay.arena_bytes < total  # packing beats the naive sum
        assert lay.arena_bytes <= live_max + 16 * len(lay.regions)
    assert plan.arena_bytes == max(plan.layouts["train"].arena_bytes, plan.layouts["infer"].arena_bytes)
    # lifetimes follow the step order: d_y is born by fc input grad (step 5) and dies at conv weight grad (step 9)
    d_y = next(r for r in plan.layout.regions if r.name == "d_y")
    assert (d_y.first, d_y.last) == (5, 9)
    # breakdown
    d = json.loads(plan.to_json())
    for key in ("peak_sram_bytes", "flash_bytes", "sram_budget_bytes", "flash_budget_bytes", "fits", "timeline"):
        assert key in d
    assert d["sram_breakdown"]["sram_trainable"] == sum(prog.buffers[n].nbytes for n in
                                                         ("conv_w", "conv_b", "fc_w", "fc_b"))
    assert d["sram_breakdown"]["sram_optimizer"] == sum(prog.buffers[n].nbytes for n in prog.buffers
                                                        if n.endswith("_mom")) + 4
    assert d["peak_sram_bytes"] == sum(d["sram_breakdown"].values())
    assert len(d["timeline"]) == len(prog.train) and d["fits"] is True
    assert "fits: yes" in format_plan(plan)


def test_deterministic():
    a = plan_memory(handmade_program(), board="qemu-cm4").to_json()
    b = plan_memory(handmade_program(), board="qemu-cm4").to_json()
    assert a == b


def test_over_budget_refusal_names_largest():
    prog = handmade_program(h=40, w=40, cin=3, cout=16)
    plan = plan_memory(prog, board="hifive1-revb")
    assert not plan.fits
    msg = plan.refusal()
    assert "hifive1-revb" in msg and "peak SRAM" in msg and "Largest contributors" in msg
    # the single largest SRAM contributor is named first
    top = [c for c in plan.contributors if c["memory"] == "sram"][0]
    assert top["what"] in msg.split("Largest contributors:")[1].split(";")[0]
    with pytest.raises(Exception, match="does not fit board hifive1-revb"):
        plan.check()


def test_guard_bytes_separate_regions():
    plan = plan_memory(handmade_program(), guard_bytes=16)
    for lay in plan.layouts.values():
        regs = lay.regions
        for i, a in enumerate(regs):
            for b in regs[i + 1:]:
                if a.first <= b.last and b.first <= a.last:
                    assert a.offset + a.nbytes + 16 <= b.offset or b.offset + b.nbytes + 16 <= a.offset


def test_plot(tmp_path):
    out = plot_plan(plan_memory(handmade_program(), board="qemu-cm4"), tmp_path / "p.png")
    assert out.stat().st_size > 1000 and out.read_bytes()[:4] == b"\x89PNG"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 30), st.integers(0, 10)), min_size=1, max_size=40))
def test_pack_random_intervals(items):
    regs = [Region(f"r{i}", "activation", n, s, s + d) for i, (n, s, d) in enumerate(items)]
    arena = pack(regs)
    for i, a in enumerate(regs):
        assert a.offset % 16 == 0 and a.offset + a.extent <= arena
        for b in regs[i + 1:]:
            if a.first <= b.last and b.first <= a.last:
                assert a.offset + a.extent <= b.offset or b.offset + b.extent <= a.offset
    live = max(sum(r.extent for r in regs if r.first <= t <= r.last) for t in range(0, 41))
    assert live <= arena <= sum(r.extent for r in regs)


def test_real_program_packing_beats_sum():
    """On Programs lowered by toolkit.train (full update, with and without reordering): no live overlap, packing
    beats the naive sum, reordering lowers the arena."""
    from test_emulate import small_cnn_graph  # noqa: E402
    from toolkit.train.lower import build_program

    g = small_cnn_graph()
    plans = {}
    for reorder in (True, False):
        prog = build_program(g, "full", "fp32", reorder=reorder)
        plan = plan_memory(prog, mode="train")
        for lay in plan.layouts.values():
            _assert_no_live_overlap(lay)
            assert lay.arena_bytes < sum(r.nbytes for r in lay.regions)
            assert lay.arena_bytes >= max(t["live_bytes"] for t in lay.timeline)
        plans[reorder] = plan
    assert plans[True].arena_bytes <= plans[False].arena_bytes


def test_infer_mode_and_bad_arguments():
    prog = handmade_program()
    plan = plan_memory(prog, mode="infer")
    assert set(plan.layouts) == {"infer"} and len(plan.layout.timeline) == len(prog.infer)
    # inference keeps no masks, no gradients: smaller than the training arena
    assert plan.arena_bytes < plan_memory(prog, mode="train").layouts["train"].arena_bytes
    with pytest.raises(Exception, match="unknown plan mode"):
        plan_memory(prog, mode="both")
    with pytest.raises(Exception, match="unknown board"):
        plan_memory(prog, board="no-such-board")
    prog.train[0].args[1] = Buf("nope")
    with pytest.raises(Exception, match=r"step 0 \(odl_conv2d_f32_forward, node conv\) names unknown buffer 'nope'"):
        plan_memory(prog)
