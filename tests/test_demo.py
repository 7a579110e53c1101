"""`odl demo` (what `make demo` runs), shortened: digits on qemu-cm55 with 40 adaptation and 60 test samples, one
epoch. Checks the step-by-step output, the three PNGs, and that the accuracy measured on the device (EVAL over the
serial link) equals the host's evaluation of the weights read back from the device (the same generated C built for
the host), before and after fine-tuning."""

from __future__ import annotations

import json
import shutil

import pytest

from toolkit.cli import main

pytestmark = [pytest.mark.qemu, pytest.mark.slow,
              pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                reason="QEMU or the Arm toolchain is not installed")]


def test_demo_short(tmp_path, capsys):
    out, res = tmp_path / "img", tmp_path / "demo.json"
    assert main(["demo", "--work", str(tmp_path / "work"), "--out", str(out), "--epochs", "1",
                 "--train-samples", "40", "--test-samples", "60", "--json", str(res)]) == 0
    text = capsys.readouterr().out
    for i in range(1, 8):
        assert f"[{i}/7]" in text
    assert "accuracy" in text and "qemu-cm55" in text
    r = json.loads(res.read_text())
    assert r["train_samples"] == 40 and r["test_samples"] == 60 and len(r["history"]) == 1
    # device-side accuracy (EVAL on the board) == host-side accuracy of the state read back from the board
    assert r["after"]["accuracy"] == r["history"][-1]["eval"]["accuracy"]
    assert r["after"]["loss"] == pytest.approx(r["history"][-1]["eval"]["loss"], rel=1e-9)
    assert 0.0 <= r["before"]["accuracy"] <= 1.0
    for name in ("demo_loss.png", "demo_accuracy.png", "demo_memory.png"):
        p = out / name
        assert p.exists() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    assert r["plan"]["peak_sram_bytes"] <= 256 * 1024
