"""Compile-time autodiff: the GRAD registry covers the IR, the spec prunes the backward graph (asserted on the Program),
relu backward uses 1-bit masks, reordering shortens gradient lifetimes without changing results, run-time lr."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from toolkit.errors import OdlError
from toolkit.frontends import from_torch
from toolkit.ir.graph import OPS
from toolkit.quant.ptq import quantize, quantize_input
from toolkit.train import ProgramRunner, UpdateSpec, build_program
from toolkit.train.autodiff import GRAD, WRITES
from toolkit.train.lower import FWD


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 16, 1)
        self.fc1 = nn.Linear(16, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        x = torch.relu(self.c2(x))
        x = nn.functional.relu6(self.dw(x)) + x
        x = torch.relu(self.pw(x))
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc2(torch.relu(self.fc1(x)))


@pytest.fixture(scope="module")
def graphs():
    torch.manual_seed(0)
    m = Net().eval()
    g = from_torch(m, (1, 3, 8, 8), name="net")
    rng = np.random.default_rng(0)
    gq = quantize(g, rng.standard_normal((16, 3, 8, 8)).astype(np.float32))
    xs = rng.standard_normal((6, 3, 8, 8)).astype(np.float32)
    return g, gq, xs, rng.integers(0, 4, 6)


def sample(prog, g, x):
    if prog.precision == "int8":
        return quantize_input(g, x[None])[0]
    return x.transpose(1, 2, 0)[None].astype(prog.buffers[prog.input].dtype)


def producers_before(g, node_name):
    out = set()
    for n in g.nodes:
        if n.name == node_name:
            break
        out.update(n.outputs)
    return out


def test_registry_covers_the_ir():
    assert set(OPS) <= set(FWD) and set(OPS) <= set(GRAD)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_bias_only_spec_prunes(graphs, precision):
    g, gq, xs, ys = graphs
    graph = gq if precision == "int8" else g
    prog = build_program(graph, "biases:1", precision)
    kernels = [s.kernel for s in prog.train]
    assert not any("weight_grad" in k or "input_grad" in k for k in kernels), kernels
    # backward stops at fc2: no gradient of anything before it, no masks for the frozen relus
    assert not any(b.kind == "mask" for b in prog.buffers.values())
    grads = [b for b in prog.buffers.values() if b.kind == "grad"]
    assert {b.name for b in grads} <= {"d_fc2", "db_fc2"}
    # no saved activations: no forward value is read after the loss except the logits and label
    first_bw = max(i for i, s in enumerate(prog.train) if s.phase == "loss")
    fwd_values = {b.name for b in prog.buffers.values() if b.kind == "activation" and b.storage == "arena"}
    for i in range(first_bw + 1, len(prog.train)):
        assert not set(prog.reads[i]) & fwd_values, (prog.train[i].kernel, prog.reads[i])
    # and it trains: the bias moves, nothing else does
    r = ProgramRunner(prog, poison=True)
    before = r.tensors()
    for x, y in zip(xs, ys):
        r.train_step(sample(prog, graph, x), int(y))
    after = r.tensors()
    assert [k for k in before if not np.array_equal(before[k], after[k])] == ["fc2.bias"]


def test_backward_stops_at_earliest_updated_layer(graphs):
    g, _, _, _ = graphs
    spec = UpdateSpec.parse('[[update.weights]]\nlayer = "pw"\nratio = "1/2"\n[update]\nbiases = 1\n')
    prog = build_program(g, spec, "fp32")
    nodes_bw = [s.node for s in prog.train if s.phase == "backward"]
    assert set(nodes_bw) <= {"fc2", "fc1", "pw", "adaptive_avg_pool2d", "flatten", "loss"}
    # pw computes its weight gradient, but no input gradient (its input needs none)
    pw = [s.kernel for s in prog.train if s.node == "pw" and s.phase == "backward"]
    assert any("weight_grad" in k for k in pw) and not any("input_grad" in k for k in pw)
    # activations before pw are never read by the backward; pw's input (saved for its weight gradient) is
    early = {prog.buffers[n].name for n in prog.buffers if prog.buffers[n].ir_name in producers_before(g, "pw")}
    pw_in = next(n for n in g.nodes if n.name == "pw").inputs[0]
    bw_reads = set().union(*(prog.reads[i] for i, s in enumerate(prog.train) if s.phase != "forward"))
    assert (early & bw_reads) == {"a_" + pw_in}
    # the relus before pw run without masks; the ones after it keep a 1-bit mask
    masks = {b.name: b for b in prog.buffers.values() if b.kind == "mask"}
    assert set(masks) == {"mask_pw", "mask_fc1"}
    assert masks["mask_pw"].nbytes == (4 * 4 * 16 + 7) // 8 and masks["mask_pw"].dtype == "uint8"


def live_max(prog, kinds=("grad",)) -> int:
    """Largest number of buffers of these kinds alive at once (first write .. last read)."""
    first, last = {}, {}
    for i in range(len(prog.train)):
        for n in prog.writes[i] + prog.reads[i]:
            if prog.buffers[n].kind in kinds:
                first.setdefault(n, i)
                last[n] = i
    return max(sum(1 for n in first if first[n] <= i <= last[n]) for i in range(len(prog.train)))


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_reorder_fewer_live_gradients_same_result(graphs, precision):
    g, gq, xs, ys = graphs
    graph = gq if precision == "int8" else g
    spec = UpdateSpec.parse("full", lr=0.05, momentum=0.9)
    # int8: with reordering, weight gradients are also computed and applied in chunks of channels (256 bytes here)
    a = build_program(graph, spec, precision, reorder=True, grad_chunk_bytes=256)
    b = build_program(graph, spec, precision, reorder=False)
    assert live_max(a) < live_max(b)
    wg = lambda p: sum("weight_grad" in s.kernel for s in p.train)  # noqa: E731
    assert wg(a) > wg(b) if precision == "int8" else wg(a) == wg(b)
    if precision == "int8":   # every weight-gradient buffer holds one chunk: at most 256 bytes or one channel
        for x in a.buffers.values():
            if x.name.startswith("dw_"):
                assert x.shape[0] <= max(1, 256 // (4 * x.shape[1])), (x.name, x.shape)
    assert [s.phase for s in b.train if s.phase == "update"] and b.train[-1].phase == "update"
    up = [i for i, s in enumerate(b.train) if s.phase == "update"]
    assert up == list(range(up[0], len(b.train)))       # all updates at the end without reordering
    ra, rb = ProgramRunner(a, poison=True), ProgramRunner(b, poison=True)
    for x, y in zip(xs, ys):
        la = ra.train_step(sample(a, graph, x), int(y))
        lb = rb.train_step(sample(b, graph, x), int(y))
        assert la == lb
    for k, v in ra.tensors().items():
        np.testing.assert_array_equal(v, rb.tensors()[k], err_msg=k)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_infer_equals_train_forward(graphs, precision):
    g, gq, xs, ys = graphs
    graph = gq if precision == "int8" else g
    prog = build_program(graph, "last:3", precision)
    r = ProgramRunner(prog, poison=True)
    for x, y in zip(xs[:3], ys[:3]):
        xi = sample(prog, graph, x)
        want = r.infer(xi)
        r.train_step(xi, int(y))
        np.testing.assert_array_equal(r.buffers[prog.logits], want)


def test_run_time_learning_rate(graphs):
    g, _, xs, ys = graphs
    prog = build_program(g, UpdateSpec.parse("last-layer", lr=0.1), "fp32")
    assert prog.buffers["lr"].storage == "sram" and prog.buffers["lr"].tensor_id is not None
    r = ProgramRunner(prog)
    r.set_lr(0.0)
    before = r.trained()
    r.train_step(sample(prog, g, xs[0]), int(ys[0]))
    for k, v in r.trained().items():
        np.testing.assert_array_equal(v, before[k])
    r.set_lr(0.1)
    r.train_step(sample(prog, g, xs[0]), int(ys[0]))
    assert any(not np.array_equal(v, before[k]) for k, v in r.trained().items())


def test_program_is_deterministic(graphs):
    g, gq, _, _ = graphs
    for graph, p in ((g, "fp32"), (gq, "int8")):
        a = build_program(graph, "full", p)
        b = build_program(graph, "full", p)
        assert a.signature() == b.signature()
        assert [(s.kernel, s.args) for s in a.train] == [(s.kernel, s.args) for s in b.train]


def test_every_kernel_has_access_info_and_exists(graphs):
    from toolkit.host import get_lib

    _, lib = get_lib()
    g, gq, _, _ = graphs
    for graph, p in ((g, "fp32"), (g, "fp16"), (gq, "int8")):
        prog = build_program(graph, "full", p)
        for s in prog.train + prog.infer:
            assert s.kernel in WRITES and hasattr(lib, s.kernel)
            assert s.phase in ("forward", "loss", "backward", "update")


def test_errors(graphs):
    g, gq, xs, _ = graphs
    with pytest.raises(OdlError, match="precision 'int4' unknown"):
        build_program(g, "full", "int4")
    with pytest.raises(OdlError, match="needs an int8 graph"):
        build_program(g, "full", "int8")
    with pytest.raises(OdlError, match="needs a float graph"):
        build_program(gq, "full", "fp32")
    r = ProgramRunner(build_program(g, "full", "fp32"))
    with pytest.raises(OdlError, match="expected dtype float32"):
        r.infer(np.zeros((1, 8, 8, 3), np.float64))
    with pytest.raises(OdlError, match="expected shape"):
        r.infer(np.zeros((1, 3, 8, 8), np.float32)[:, :, :4])
    with pytest.raises(OdlError, match="label 9 outside"):
        r.train_step(np.zeros((1, 8, 8, 3), np.float32), 9)


# ---- the small kernels of csrc/include/odl/train_step.h, against numpy -----------------------------------------------
def test_train_step_kernels_vs_numpy():
    import math

    from toolkit.host import get_lib
    from toolkit.host.arrays import ptr

    ffi, lib = get_lib()
    rng = np.random.default_rng(3)
    # clamp
    x = rng.integers(-128, 128, 50).astype(np.int8)
    y = np.empty_like(x)
    assert lib.odl_clamp_s8(ptr(ffi, x), 50, -5, 90, ptr(ffi, y)) == 0
    np.testing.assert_array_equal(y, np.clip(x, -5, 90))
    assert lib.odl_clamp_s8(ptr(ffi, x), 50, 9, 3, ptr(ffi, y)) == -1
    # explicit pad
    img = rng.integers(-128, 128, (1, 3, 4, 2)).astype(np.int8)
    out = np.empty((1, 3 + 1 + 2, 4 + 0 + 3, 2), np.int8)
    d = ffi.new("odl_dims *", [1, 3, 4, 2])
    assert lib.odl_pad_s8(ptr(ffi, img), d, 1, 2, 0, 3, -7, ptr(ffi, out)) == 0
    np.testing.assert_array_equal(out, np.pad(img, ((0, 0), (1, 2), (0, 3), (0, 0)), constant_values=-7))
    # int8-graph bias gradient w.r.t. the stored integers
    dy = rng.standard_normal((6, 5)).astype(np.float32)
    ws = rng.uniform(0.01, 0.1, 5).astype(np.float32)
    ch = np.array([1, 4], np.int32)
    db = np.empty(2, np.float32)
    assert lib.odl_bias_grad_s32_f32(ptr(ffi, dy), 6, 5, ptr(ffi, ws), 0.5, ptr(ffi, ch), 2, ptr(ffi, db)) == 0
    np.testing.assert_allclose(db, (ws[ch] * 0.5) * dy[:, ch].sum(0), rtol=1e-6)
    # cosine schedule
    lr, step = ffi.new("float *"), ffi.new("int32_t *", 0)
    for t in range(12):
        assert lib.odl_lr_cosine_f32(lr, step, 0.2, 10) == 0
        assert lr[0] == pytest.approx(0.2 * 0.5 * (1 + math.cos(math.pi * min(t, 10) / 10)), rel=1e-6, abs=1e-9)
    assert step[0] == 12
    # channel-sliced SGD on a 1HWC depthwise weight (channel stride 1, element stride C), momentum and weight decay
    C, k = 6, 9
    w = rng.standard_normal((1, 3, 3, C)).astype(np.float32)
    g = rng.standard_normal(w.shape).astype(np.float32)
    chans = np.array([0, 3, 5], np.int32)
    buf = rng.standard_normal(3 * k).astype(np.float32)
    want_w, want_buf = w.copy().reshape(k, C), buf.copy().reshape(3, k)
    g2 = g.reshape(k, C)
    for j, c in enumerate(chans):
        d = g2[:, c] + np.float32(0.01) * want_w[:, c]
        want_buf[j] = np.float32(0.9) * want_buf[j] + d
        want_w[:, c] = want_w[:, c] - np.float32(0.1) * want_buf[j]
    lrp = ffi.new("float *", 0.1)
    assert lib.odl_sgd_f32_update_slice(ptr(ffi, w), ptr(ffi, g), ptr(ffi, buf), k, 1, C, ptr(ffi, chans), 3, lrp,
                                        0.9, 0.01) == 0
    np.testing.assert_allclose(w.reshape(k, C), want_w, rtol=1e-6)
    np.testing.assert_allclose(buf.reshape(3, k), want_buf, rtol=1e-6)
    assert lib.odl_sgd_f32_update_slice(ptr(ffi, w), ptr(ffi, g), ffi.NULL, k, 1, C, ptr(ffi, chans), 3, lrp,
                                        0.9, 0.0) == -1   # momentum without a buffer
    # gather of selected channels, and the packed-gradient SGD (gradient [count, k])
    a = rng.standard_normal((5, 7)).astype(np.float32)
    sel = np.array([6, 0, 2], np.int32)
    out = np.empty((5, 3), np.float32)
    assert lib.odl_gather_channels_f32(ptr(ffi, a), 5, 7, ptr(ffi, sel), 3, ptr(ffi, out)) == 0
    np.testing.assert_array_equal(out, a[:, sel])
    sel[0] = 7
    assert lib.odl_gather_channels_f32(ptr(ffi, a), 5, 7, ptr(ffi, sel), 3, ptr(ffi, out)) == -1
    w = rng.standard_normal((4, 5)).astype(np.float32)
    gp = rng.standard_normal((2, 5)).astype(np.float32)
    want = w.copy()
    want[[1, 3]] -= np.float32(0.1) * (gp + np.float32(0.01) * w[[1, 3]])
    assert lib.odl_sgd_f32_update_slice_packed(ptr(ffi, w), ptr(ffi, gp), ffi.NULL, 5, 5, 1,
                                               ptr(ffi, np.array([1, 3], np.int32)), 2, lrp, 0.0, 0.01) == 0
    np.testing.assert_allclose(w, want, rtol=1e-6)
