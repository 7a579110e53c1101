"""On-device fine-tuning end to end on emulated boards (QEMU): `odl build` a small int8 CNN for qemu-cm55 and
qemu-rv32, `odl train` it over the serial link and compare the trained tensors byte for byte with `odl emulate`
(the host build of the same generated C: an independent executor of the same Program, with the same sample order);
kill QEMU mid-training and `--resume`; train through the fault-injecting proxy; device eval equals host eval; a
model that does not fit is refused; a firmware with another model is refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from toolkit.cli import main

pytestmark = [pytest.mark.qemu, pytest.mark.slow,
              pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("qemu-system-riscv32")
                                     and shutil.which("arm-none-eabi-gcc")),
                                reason="QEMU or the cross toolchains are not installed")]

N_TRAIN = 12


def small_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(8, 3)).eval()


def dataset(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].mean(axis=(1, 2)) > 0).astype(np.int64) + (x[:, 0, 4:].mean(axis=(1, 2)) > 0.1)
    return x, y


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("devtrain")
    net = small_cnn()
    model = d / "cnn.pt2"
    torch.export.save(torch.export.export(net, (torch.zeros(1, 1, 8, 8),)), model)
    x, y = dataset(N_TRAIN, 1)
    np.savez(d / "train.npz", x=x, y=y)
    ex, ey = dataset(16, 2)
    np.savez(d / "test.npz", x=ex, y=ey)
    return d, model


@pytest.fixture(scope="module")
def emulated(files):
    """`odl emulate --save`: the host reference, int8, full update, 2 epochs, default shuffle."""
    d, model = files
    out = d / "emulated.npz"
    assert main(["emulate", str(model), "--data", str(d / "train.npz"), "--precision", "int8", "--update", "full",
                  "--epochs", "2", "--save", str(out), "--json"]) == 0
    return dict(np.load(out))


@pytest.fixture(scope="module", params=["qemu-cm55", "qemu-rv32"])
def build(request, files):
    d, model = files
    out = d / f"build-{request.param}"
    assert main(["build", str(model), "--board", request.param, "--precision", "int8", "--update", "full",
                 "--calib", str(d / "train.npz"), "-o", str(out), "--json"]) == 0
    return request.param, out


@pytest.fixture(scope="module")
def build_cm55(files):
    """The qemu-cm55 build alone: the fault and signature tests need one board, not both."""
    d, model = files
    out = d / "build-qemu-cm55"
    if not (out / "build.json").exists():
        assert main(["build", str(model), "--board", "qemu-cm55", "--precision", "int8", "--update", "full",
                     "--calib", str(d / "train.npz"), "-o", str(out), "--json"]) == 0
    return "qemu-cm55", out


def assert_same(got: dict, want: dict):
    assert set(got) == set(want) and want
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        assert got[k].tobytes() == want[k].tobytes(), f"{k} differs from odl emulate"


def test_build_json(build):
    board, out = build
    info = json.loads((out / "build.json").read_text())
    assert info["board"] == board and info["precision"] == "int8"
    assert (out / info["elf"]).exists() and (out / "model" / "model.c").exists()
    names = {t["name"] for t in info["tensors"]}
    assert {"0.weight", "0.bias", "3.weight", "7.weight"} <= names
    ids = [t["id"] for t in info["tensors"]]
    assert len(ids) == len(set(ids))


def test_train_bit_exact_with_emulate(build, files, emulated, capsys):
    board, out = build
    d, _ = files
    save = d / f"device-{board}.npz"
    capsys.readouterr()
    assert main(["train", "--build", str(out), "--data", str(d / "train.npz"), "--eval", str(d / "test.npz"),
                 "--epochs", "2", "--save", str(save), "--json"]) == 0
    hist = json.loads(capsys.readouterr().out)
    assert hist["steps"] == 2 * N_TRAIN and hist["board"] == board
    assert [r["epoch"] for r in hist["history"]] == [1, 2]
    assert_same(dict(np.load(save)), emulated)
    # odl eval on the device with the checkpoint (= the trained state) equals the host evaluation of it
    assert main(["eval", "--build", str(out), "--data", str(d / "test.npz"), "--checkpoint", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["accuracy"] == hist["after"]["accuracy"]
    assert ev["loss"] == pytest.approx(hist["after"]["loss"], rel=1e-12)


def test_export_tflite_gives_the_board_logits(build, files, tmp_path):
    """After training: `odl export` -> .tflite; TFLite Micro on the host gives the board's int8 logits."""
    from toolkit.device import DeviceSession
    from toolkit.tflite.reference import run_tflm

    board, shared = build
    d, _ = files
    # its own copy of the build, trained here, so the test does not depend on which tests ran before it
    out = tmp_path / "build"
    shutil.copytree(shared, out, ignore=shutil.ignore_patterns("checkpoint.npz", "progress.json"))
    assert main(["train", "--build", str(out), "--data", str(d / "train.npz"), "--epochs", "1", "--json"]) == 0
    tfl = tmp_path / "finetuned.tflite"
    assert main(["export", "--build", str(out), "-o", str(tfl)]) == 0
    x, _ = dataset(4, 5)
    with DeviceSession(out) as s:
        with np.load(out / "checkpoint.npz") as z:  # the state `odl train` left (a fresh boot has the initial one)
            s.write_state({n: z[n] for n in s.state})
        xin = s.to_input(x)
        on_board = s.logits(xin)
    data = tfl.read_bytes()
    for i in range(len(xin)):
        got = np.asarray(run_tflm(data, [xin[i:i + 1]]).outputs[0]).reshape(-1)
        assert got.tobytes() == on_board[i].tobytes()
    with pytest.raises(Exception, match="int8 build exports to .tflite"):
        from toolkit.device import load_build
        from toolkit.device.export import export_model

        export_model(load_build(out), tmp_path / "x.pt2")


def test_kill_qemu_then_resume(build_cm55, files, emulated):
    from toolkit.device import DeviceSession, TrainingInterrupted

    board, out = build_cm55
    d, _ = files
    x, y = np.load(d / "train.npz")["x"], np.load(d / "train.npz")["y"]
    killed = []

    def kill(sess, steps):
        if steps >= 14 and not killed:  # epoch 2, after the checkpoint at 12 (end of epoch 1)
            killed.append(steps)
            sess.qemu.proc.kill()

    with DeviceSession(out, timeout=0.5) as s:
        s.link.retries = 2
        with pytest.raises(TrainingInterrupted, match="--resume"):
            s.train(x, y, epochs=2, batch=2, checkpoint_every=4, progress=False, on_chunk=kill)
    prog = json.loads((out / "progress.json").read_text())
    assert (prog["epoch"], prog["pos"]) == (1, 0)  # last checkpoint: end of epoch 1, before the lost steps
    with DeviceSession(out) as s:  # a fresh boot: power-on weights, restored from the checkpoint
        hist = s.train(x, y, epochs=2, batch=2, checkpoint_every=4, progress=False, resume=True)
    assert hist["resumed_from"] == {"epoch": 1, "pos": 0, "steps": 12}
    assert hist["steps"] == 2 * N_TRAIN
    assert_same(hist["_trained"], emulated)


def test_fault_proxy_same_weights(build_cm55, files, emulated):
    from toolkit.device import DeviceSession
    from toolkit.firmware.qemu import QemuBoard
    from toolkit.link import FaultProxy, Faults

    board, out = build_cm55
    d, _ = files
    x, y = np.load(d / "train.npz")["x"], np.load(d / "train.npz")["y"]
    info = json.loads((out / "build.json").read_text())
    with QemuBoard(board, out / info["elf"]) as q:
        with FaultProxy(q.port, to_device=Faults.all(0.04, max_faults=12),
                        to_host=Faults.all(0.04, max_faults=12), seed=3) as proxy:
            with DeviceSession(out, port=proxy.url, timeout=0.5) as s:
                s.link.retries = 20
                hist = s.train(x, y, epochs=2, batch=3, checkpoint_every=6, progress=False)
            assert proxy.injected  # faults really happened
    assert_same(hist["_trained"], emulated)


def test_signature_mismatch_refused(build_cm55, tmp_path):
    from toolkit.device import DeviceSession, SignatureMismatch

    board, out = build_cm55
    other = tmp_path / "other"
    shutil.copytree(out, other, ignore=shutil.ignore_patterns("fw"))
    info = json.loads((other / "build.json").read_text())
    info["signature"] = "deadbeef"
    info["elf"] = str(out / info["elf"])
    (other / "build.json").write_text(json.dumps(info))
    with pytest.raises(SignatureMismatch, match="deadbeef"):
        DeviceSession(other)


def test_build_refuses_model_that_does_not_fit(tmp_path, capsys):
    torch.manual_seed(0)
    big = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    model = tmp_path / "big.pt2"
    torch.export.save(torch.export.export(big, (torch.zeros(1, 3, 32, 32),)), model)
    rc = main(["build", str(model), "--board", "hifive1-revb", "--precision", "fp32", "--update", "full",
               "-o", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc == 1 and "does not fit" in err and "hifive1-revb" in err
    assert not (tmp_path / "b" / "build.json").exists()


def test_fp32_on_device_matches_emulate_and_exports_pt2(files, tmp_path, capsys):
    """fp32 (full update, 1 epoch) on qemu-cm55: weights equal `odl emulate` within float tolerance (same C, FMA
    contraction off); the exported .pt2 run by PyTorch gives the board's logits within tolerance."""
    from toolkit.device import DeviceSession

    d, model = files
    out = tmp_path / "b32"
    assert main(["build", str(model), "--board", "qemu-cm55", "--precision", "fp32", "--update", "full",
                 "-o", str(out), "--json"]) == 0
    emu = tmp_path / "emu32.npz"
    dev = tmp_path / "dev32.npz"
    assert main(["emulate", str(model), "--data", str(d / "train.npz"), "--update", "full", "--save", str(emu),
                 "--json"]) == 0
    assert main(["train", "--build", str(out), "--data", str(d / "train.npz"), "--save", str(dev), "--json"]) == 0
    capsys.readouterr()
    want, got = dict(np.load(emu)), dict(np.load(dev))
    assert set(got) == set(want) and want
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6, err_msg=k)
    pt2 = tmp_path / "finetuned.pt2"
    assert main(["export", "--build", str(out), "-o", str(pt2)]) == 0
    x, _ = dataset(4, 6)
    with DeviceSession(out) as s:
        with np.load(out / "checkpoint.npz") as z:
            s.write_state({n: z[n] for n in s.state})
        on_board = s.logits(s.to_input(x)).reshape(len(x), -1)
    net = torch.export.load(str(pt2)).module()
    with torch.no_grad():
        host = np.concatenate([net(torch.from_numpy(x[i:i + 1])).numpy() for i in range(len(x))])
    np.testing.assert_allclose(on_board, host, rtol=1e-4, atol=1e-5)
