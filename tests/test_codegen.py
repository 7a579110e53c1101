"""C code generation: deterministic files, the arena the C allocates equals the plan, training in the generated C
matches torch.autograd, the canary names a step that writes outside its planned buffer, generated C == the
in-process executor bit-exactly (when toolkit.train.executor exists)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch

from test_planner import handmade_program
from toolkit.codegen import generate
from toolkit.codegen.host import ModelError
from toolkit.plan import plan_memory


def _fp16_program():
    from test_emulate import small_cnn_graph
    from toolkit.train.lower import build_program
    from toolkit.train.spec import UpdateSpec

    return build_program(small_cnn_graph(), UpdateSpec.parse("last:2", lr=0.05, momentum=0.9), "fp16")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Three generated models in one host build (csrc compiled once), all canary builds:
    the hand-made fp32 program, the same with d_logits planned too small, and a lowered fp16 program."""
    from toolkit.codegen import build_models

    out = tmp_path_factory.mktemp("gen")
    good = handmade_program()
    oob = handmade_program()
    oob.buffers["d_logits"].shape = (1, 2)
    f16 = _fp16_program()
    entries, info = [], {}
    for key, prog, guard in (("odl_model", good, 0), ("oob_model", oob, 16), ("f16_model", f16, 16)):
        plan = plan_memory(prog, mode="train", guard_bytes=guard)
        c, h = generate(prog, plan, out / key, prefix=key)
        entries.append((c, h, key, prog, True))
        info[key] = (prog, plan, c)
    built = build_models(entries, name="codegen_test")
    res = {}
    for m in built:
        prog, plan, c = info[m.prefix]
        m.reset()
        m.c_path = c
        res[m.prefix] = (prog, plan, m)
    return res


@pytest.fixture(scope="module")
def model(models):
    return models["odl_model"]


def test_deterministic(tmp_path):
    outs = []
    for d in ("a", "b"):
        prog = handmade_program()
        c, h = generate(prog, plan_memory(prog, board="qemu-cm4"), tmp_path / d)
        outs.append((c.read_bytes(), h.read_bytes()))
    assert outs[0] == outs[1]
    # a different lr changes the initial SRAM contents, hence the file
    prog = handmade_program(lr=0.01)
    c, _ = generate(prog, plan_memory(prog), tmp_path / "c")
    assert c.read_bytes() != outs[0][0]


def test_arena_size_equals_plan(model):
    prog, plan, m = model
    assert m.canary
    assert m.arena_size == plan.arena_bytes
    assert m.signature == int(prog.signature()[:8], 16)


def _torch_reference(prog, xs, ys, lr, momentum):
    g = prog.graph
    cw = torch.tensor(g.tensor("conv.w").data).permute(0, 3, 1, 2).contiguous().requires_grad_()  # OHWI -> OIHW
    cb = torch.tensor(g.tensor("conv.b").data).requires_grad_()
    fw = torch.tensor(g.tensor("fc.w").data).requires_grad_()
    fb = torch.tensor(g.tensor("fc.b").data).requires_grad_()
    opt = torch.optim.SGD([cw, cb, fw, fb], lr=lr, momentum=momentum)
    losses = []
    for x, y in zip(xs, ys):
        opt.zero_grad()
        h = torch.relu(torch.nn.functional.conv2d(torch.tensor(x).permute(0, 3, 1, 2), cw, cb))
        logits = h.permute(0, 2, 3, 1).reshape(1, -1) @ fw.T + fb  # NHWC flatten order
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([int(y)]))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"conv_w": cw.detach().permute(0, 2, 3, 1).numpy(), "conv_b": cb.detach().numpy(),
            "fc_w": fw.detach().numpy(), "fc_b": fb.detach().numpy()}, losses


def test_training_matches_torch(model):
    prog, _, m = model
    m.reset()
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((20, 1, 6, 6, 2)).astype(np.float32)
    ys = rng.integers(0, 4, 20)
    losses = [m.train_step(x, y) for x, y in zip(xs, ys)]
    want, want_losses = _torch_reference(prog, xs, ys, 0.05, 0.9)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-4, atol=1e-6)
    for name, w in want.items():
        np.testing.assert_allclose(m.read(name), w, rtol=1e-4, atol=1e-6, err_msg=name)
    # inference of the trained model agrees with the same forward in torch
    x = xs[0]
    logits = m.infer(x, np.float32, (1, 4))
    h = np.maximum(torch.nn.functional.conv2d(torch.tensor(x).permute(0, 3, 1, 2),
                                              torch.tensor(want["conv_w"]).permute(0, 3, 1, 2),
                                              torch.tensor(want["conv_b"])).permute(0, 2, 3, 1).numpy(), 0)
    np.testing.assert_allclose(logits, h.reshape(1, -1) @ want["fc_w"].T + want["fc_b"], rtol=1e-4, atol=1e-5)
    # reset restores the initial weights
    m.reset()
    np.testing.assert_array_equal(m.read("fc_w"), prog.buffers["fc_w"].init)


def test_tensor_table(model):
    prog, _, m = model
    t = m.tensors
    assert t["fc_w"]["id"] == 12 and t["fc_w"]["name"] == "fc.w" and t["fc_w"]["writable"]
    assert t["fc_w"]["nbytes"] == prog.buffers["fc_w"].nbytes and t["fc_w"]["dtype"] == np.float32
    assert t["lr"]["id"] == 20 and t["x"]["data"] == m.ffi.NULL
    assert "y_pre" not in t  # arena buffers are not in the table


def test_canary_catches_out_of_bounds_write(models):
    """A Program whose d_logits buffer is planned 2 floats too small: softmax-CE writes 4 -> the guard after it."""
    prog, plan, m = models["oob_model"]
    m.reset()
    x = np.zeros((1, 6, 6, 2), np.float32)
    with pytest.raises(ModelError, match=r"canary: train step 3: odl_softmax_cross_entropy_f32_label "
                                         r"\(loss, node loss\) wrote outside .* into guard after d_logits"):
        m.train_step(x, 1)
    # inference does not touch d_logits: fine
    m.infer(x, np.float32, (1, 4))


def test_kernel_error_names_the_step(model):
    prog, _, m = model
    with pytest.raises(ModelError, match=r"train step 3: odl_softmax_cross_entropy_f32_label .* ODL_ERR_ARG"):
        m.train_step(np.zeros((1, 6, 6, 2), np.float32), 7)  # label outside [0, 4)


def test_matches_executor_bit_exactly(model):
    executor = pytest.importorskip("toolkit.train.executor")
    prog, _, m = model
    runner = executor.ProgramRunner(prog)
    m.reset()
    rng = np.random.default_rng(9)
    for _ in range(5):
        x = rng.standard_normal((1, 6, 6, 2)).astype(np.float32)
        y = int(rng.integers(0, 4))
        assert np.float32(m.train_step(x, y)) == np.float32(runner.train_step(x, y))
    for name in ("conv_w", "conv_b", "fc_w", "fc_b", "conv_w_mom"):
        np.testing.assert_array_equal(m.read(name), runner.buffers[name], err_msg=name)


TARGETS = {
    "cortex-m4": (["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                   "-mfp16-format=ieee"], "arm-none-eabi-nm"),
    "rv32imac": (["clang-19", "--target=riscv32-unknown-elf", "-march=rv32imac", "-mabi=ilp32", "-ffreestanding"],
                 "llvm-nm-19"),
}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_arena_symbol_size_on_targets(models, target, tmp_path):
    """Compiled for a Cortex-M4F (gcc) and RV32 (clang) with -Wall -Werror, the generated C (hand-made fp32 and
    lowered fp16 programs) builds, and the arena symbol is exactly the planned size (release) / + the guard
    (canary)."""
    cc, nm = TARGETS[target]
    if shutil.which(cc[0]) is None or shutil.which(nm) is None:
        pytest.skip(f"{cc[0]} / {nm} not installed")
    from toolkit.host.build import INCLUDE

    for prefix in ("odl_model", "f16_model"):
        prog, plan, m = models[prefix]
        for defines, extra in (([], 0), ([f"-D{prefix.upper()}_CANARY"], 16)):
            obj = tmp_path / f"{prefix}{extra}.o"
            subprocess.run(cc + ["-Os", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-c", *defines, f"-I{INCLUDE}",
                                 f"-I{m.c_path.parent}", str(m.c_path), "-o", str(obj)], check=True)
            out = subprocess.run([nm, "-S", str(obj)], check=True, capture_output=True, text=True).stdout
            sizes = {ln.split()[-1]: int(ln.split()[1], 16) for ln in out.splitlines() if len(ln.split()) == 4}
            assert sizes[f"{prefix}_arena"] == plan.arena_bytes + extra


def test_fp16_real_program_equals_executor(models):
    """A lowered fp16 Program (last two layers trained): generated C (canary build) == executor, bit for bit."""
    from toolkit.train.executor import ProgramRunner

    prog, plan, m = models["f16_model"]
    assert m.canary and m.arena_size == plan.arena_bytes
    m.reset()
    runner = ProgramRunner(prog)
    rng = np.random.default_rng(11)
    lb = prog.buffers[prog.logits]
    for _ in range(6):
        x = rng.standard_normal((1, 8, 8, 1)).astype(np.float16)
        y = int(rng.integers(0, 3))
        assert m.train_step(x, y) == runner.train_step(x, y)
        np.testing.assert_array_equal(m.infer(x, lb.dtype, lb.shape), runner.infer(x))
    for name, b in prog.buffers.items():
        if b.storage == "sram":
            np.testing.assert_array_equal(m.read(name), runner.buffers[name], err_msg=name)
