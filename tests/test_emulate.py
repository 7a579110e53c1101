"""Host emulation of real lowered Programs: fp32 training equals torch.autograd, int8 logits equal the numpy TFLite
model at every step, the canary build runs clean (no kernel writes outside its planned buffers), the generated C
equals the in-process executor bit-exactly, and the `odl emulate` / `odl plan` commands."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from toolkit.cli import main
from toolkit.emulate import DataError, emulate, load_npz
from toolkit.train.spec import UpdateSpec

SPEC_TOML = """
[update]
all_weights = true
all_biases = true
[optimizer]
lr = 0.05
momentum = 0.9
"""


def small_cnn(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(8, 3)).eval()


def small_cnn_graph():
    from toolkit.frontends import from_torch

    return from_torch(small_cnn(), (1, 1, 8, 8))


def dataset(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].mean(axis=(1, 2)) > 0).astype(np.int64) + (x[:, 0, 4:].mean(axis=(1, 2)) > 0.1)
    return x, y


def torch_train(net, x, y, lr, momentum):
    net = copy.deepcopy(net).train()
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    for xi, yi in zip(x, y):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.tensor(xi[None])), torch.tensor([int(yi)])).backward()
        opt.step()
    return {k: v.detach().numpy() for k, v in net.state_dict().items()}


@pytest.fixture(scope="module")
def fp32_run(tmp_path_factory):
    x, y = dataset(20, 1)
    ex, ey = dataset(30, 2)
    spec = UpdateSpec.from_toml(SPEC_TOML)
    save = tmp_path_factory.mktemp("emu") / "trained.npz"
    hist = emulate(small_cnn(), (x, y), (ex, ey), epochs=1, spec=spec, save=save, shuffle=False, canary=True,
                   progress=False)
    return x, y, hist, save


def test_fp32_20_steps_equal_torch(fp32_run):
    x, y, hist, save = fp32_run
    want = torch_train(small_cnn(), x, y, 0.05, 0.9)
    got = dict(np.load(save))
    assert set(got) == set(want)
    for k, w in want.items():
        g = got[k]
        if w.ndim == 4:  # OIHW (torch) <- OHWI (odl)
            g = g.transpose(0, 3, 1, 2)
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6, err_msg=k)
    assert hist["steps"] == 20 and hist["_model"].canary  # the canary build ran every step clean
    assert hist["_model"].arena_size == hist["plan"]["arena_bytes"]
    for key in ("accuracy", "loss"):
        assert key in hist["before"] and key in hist["after"]
    assert hist["after"]["loss"] != hist["before"]["loss"]


def test_fp32_equals_executor_bit_exactly(fp32_run):
    from toolkit.train.executor import ProgramRunner

    _, _, hist, _ = fp32_run
    m, prog = hist["_model"], hist["_program"]
    m.reset()
    runner = ProgramRunner(prog)
    x, y = dataset(6, 3)
    from toolkit.quant.ptq import input_to_nhwc

    xs = input_to_nhwc(prog.graph, x)
    for xi, yi in zip(xs, y):
        assert m.train_step(xi[None], yi) == runner.train_step(xi[None], yi)
        lb = prog.buffers[prog.logits]
        np.testing.assert_array_equal(m.infer(xi[None], lb.dtype, lb.shape), runner.infer(xi[None]))
    for name, b in prog.buffers.items():
        if b.storage == "sram":
            np.testing.assert_array_equal(m.read(name), runner.buffers[name], err_msg=name)


def test_int8_logits_match_tflite_model_every_step():
    """int8 sparse update with QAS: the generated C's logits equal toolkit.ir.interp.run_int8 (TFLite arithmetic) on
    the current weights after every step, the canary build runs clean, and the C equals the executor."""
    from toolkit.ir.interp import run_int8
    from toolkit.quant.ptq import quantize_input
    from toolkit.train.executor import ProgramRunner

    x, y = dataset(12, 4)
    spec = UpdateSpec.from_toml('[update]\nbiases = 2\n[[update.weights]]\nlayer = "7"\nratio = "1/2"\n'
                                '[optimizer]\nlr = 0.05\nmomentum = 0.9\n[int8]\nrounding = "stochastic"\n')
    hist = emulate(small_cnn(), (x[:1], y[:1]), None, epochs=0, spec=spec, precision="int8", calib=x,
                   canary=True, progress=False)
    m, prog = hist["_model"], hist["_program"]
    g = copy.deepcopy(prog.graph)
    runner = ProgramRunner(prog)
    lb = prog.buffers[prog.logits]
    xq = quantize_input(g, x)
    trained = prog.trained_tensors()
    assert trained, "the spec trains something"
    for i in range(len(y)):
        for ir, b in trained.items():
            g.tensor(ir).data = m.read(b.name)
        want = run_int8(g, xq[i:i + 1])[prog.meta["logits_tensor"]]
        np.testing.assert_array_equal(m.infer(xq[i:i + 1], lb.dtype, lb.shape).reshape(want.shape), want)
        assert m.train_step(xq[i:i + 1], y[i]) == runner.train_step(xq[i:i + 1], y[i])
    for name, b in prog.buffers.items():
        if b.storage == "sram":
            np.testing.assert_array_equal(m.read(name), runner.buffers[name], err_msg=name)
    assert any(not np.array_equal(m.read(b.name), prog.buffers[b.name].init) for b in trained.values())


def test_cli_emulate_json(fp32_run, tmp_path, capsys):
    x, y = dataset(20, 1)
    ex, ey = dataset(30, 2)
    np.savez(tmp_path / "train.npz", x=x, y=y)
    np.savez(tmp_path / "test.npz", x=ex, y=ey)
    (tmp_path / "spec.toml").write_text(SPEC_TOML)
    small_cnn_graph().to_json(tmp_path / "model.json")
    rc = main(["emulate", str(tmp_path / "model.json"), "--data", str(tmp_path / "train.npz"), "--eval",
               str(tmp_path / "test.npz"), "--epochs", "1", "--update", str(tmp_path / "spec.toml"), "--no-shuffle",
               "--canary", "--save", str(tmp_path / "t.npz"), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    _, _, hist, save = fp32_run
    assert out["before"] == hist["before"] and out["after"] == hist["after"]  # same C, same numbers
    for k, v in np.load(save).items():
        np.testing.assert_array_equal(np.load(tmp_path / "t.npz")[k], v)


def test_bad_data_files(tmp_path, capsys):
    small_cnn_graph().to_json(tmp_path / "model.json")
    np.savez(tmp_path / "nolabels.npz", x=np.zeros((4, 1, 8, 8), np.float32))
    np.savez(tmp_path / "shape.npz", x=np.zeros((4, 1, 7, 8), np.float32), y=np.zeros(4, np.int64))
    np.savez(tmp_path / "count.npz", x=np.zeros((4, 1, 8, 8), np.float32), y=np.zeros(3, np.int64))
    np.savez(tmp_path / "range.npz", x=np.zeros((4, 1, 8, 8), np.float32), y=np.array([0, 1, 2, 3]))
    (tmp_path / "junk.npz").write_text("not a zip")
    cases = {"nolabels.npz": "missing array(s) y", "shape.npz": "expected samples of shape (1, 8, 8)",
             "count.npz": "x has 4 samples but y has 3", "range.npz": r"labels must be in [0, 3)",
             "junk.npz": "not a readable .npz", "absent.npz": "does not exist"}
    for f, msg in cases.items():
        rc = main(["emulate", str(tmp_path / "model.json"), "--data", str(tmp_path / f), "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 1 and msg in err, (f, err)
    with pytest.raises(DataError):
        load_npz(tmp_path / "nolabels.npz")


def test_cli_plan(tmp_path, capsys):
    small_cnn_graph().to_json(tmp_path / "model.json")
    rc = main(["plan", str(tmp_path / "model.json"), "--board", "qemu-cm4", "--update", "full", "--json",
               "--plot", str(tmp_path / "p.png")])
    out = json.loads(capsys.readouterr().out)
    from toolkit.firmware.boards import load_board

    assert rc == 0 and out["fits"] is True
    assert out["sram_budget_bytes"] == load_board("qemu-cm4").memory.sram_size
    for k in ("peak_sram_bytes", "flash_bytes", "sram_budget_bytes", "flash_budget_bytes", "fits"):
        assert k in out
    assert (tmp_path / "p.png").stat().st_size > 1000
    # a model too big for the 16 KB HiFive1: refused, non-zero, the largest contributors named
    from toolkit.frontends import from_torch

    torch.manual_seed(0)
    big = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(16, 4)).eval()
    from_torch(big, (1, 3, 32, 32)).to_json(tmp_path / "big.json")
    rc = main(["plan", str(tmp_path / "big.json"), "--board", "hifive1-revb", "--update", "full"])
    cap = capsys.readouterr()
    assert rc == 1 and "does not fit board hifive1-revb" in cap.err and "Largest contributors" in cap.err
    assert "fits: NO" in cap.out
