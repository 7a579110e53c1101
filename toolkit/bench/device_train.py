"""Device figures of the training step (`odl bench train --board qemu-XX`): instructions per training step (and per
inference) for int8 / fp16 / fp32 with the reference kernels and with the board's SIMD paths, and the peak SRAM
measured on the device next to the planner's figure.

For each configuration the model is built into the board's firmware (toolkit.device.build_for_device), the board
is booted in QEMU, and RUN_KERNEL 0x0D10 / 0x0D11 (firmware/model_service.c) run one training step / inference on a
sample between the firmware's instruction-count markers: Cortex-M has no instruction counter, so QEMU runs with the
insncount plugin (tools/qemu_plugin, counting exactly between the markers); RISC-V reports minstret. Interrupts are
masked during the call. RUN_KERNEL 0x0D12 returns the stack high-water mark, measured by painting the stack at boot
and scanning it: measured peak SRAM = planner's peak - its stack estimate + the measured stack.
"""

from __future__ import annotations

import dataclasses
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

from toolkit.errors import OdlError

KERNEL_TRAIN, KERNEL_INFER, KERNEL_STACK = 0x0D10, 0x0D11, 0x0D12
MARKERS = ("odl_ks_mark_begin", "odl_ks_mark_end")


def default_model():
    """The digits example's CNN (random init: counts do not depend on the weights) and its input shape."""
    import sys

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "digits"))
    import model as M  # examples/digits/model.py

    torch.manual_seed(0)
    return M.DigitsCNN(8).eval(), (1, 16, 16)


class _Counter:
    """A booted board with the model firmware; counts instructions of one RUN_KERNEL call."""

    def __init__(self, build):
        from toolkit.firmware import load_board
        from toolkit.firmware.qemu import QemuBoard
        from toolkit.link import SerialLink
        from toolkit.target.elf import elf_symbols

        board = load_board(build.board)
        self._tmp = tempfile.TemporaryDirectory(prefix="odl-bench-")
        self.counts = None
        if board.arch != "riscv":
            from toolkit.target.plugin import build_plugin

            syms = elf_symbols(build.elf, set(MARKERS))
            self.counts = Path(self._tmp.name) / "insncount.txt"
            self.counts.write_text("")
            plug = (f"file={build_plugin()},start={syms[MARKERS[0]] & ~1:#x},stop={syms[MARKERS[1]] & ~1:#x},"
                    f"out={self.counts}")
            run = dict(board.run)
            run["args"] = [*run.get("args", []), "-plugin", plug]
            board = dataclasses.replace(board, run=run)
        self.qemu = QemuBoard(board, build.elf).start()
        self.link = SerialLink(self.qemu.url, timeout=5.0)
        self.link.hello()

    def run(self, kid: int, args: bytes) -> tuple[bytes, int]:
        before = self.counts.stat().st_size if self.counts else 0
        r = self.link.run_kernel(kid, args, timeout=60.0)
        n = struct.unpack_from("<Q", r.output, 4 if kid == KERNEL_TRAIN else 0)[0]
        if self.counts is not None:
            lines = []
            deadline = time.monotonic() + 2.0
            while not lines and time.monotonic() < deadline:
                with open(self.counts) as fh:
                    fh.seek(before)
                    text = fh.read()
                lines = text.split() if text.endswith("\n") else []
                if not lines:
                    time.sleep(0.02)
            if not lines:
                raise OdlError("the QEMU insncount plugin reported no count")
            n = int(lines[-1])
        return r.output, n

    def close(self):
        try:
            self.link.close()
        finally:
            self.qemu.close()
            self._tmp.cleanup()


def bench_device(board: str, precisions=("int8", "fp16", "fp32"), update: str = "full", model=None,
                 input_shape=None, work=None, samples: int = 3, simd_variants=(False, True), progress=None) -> list:
    """One record per (precision, kernels) on ``board``: instructions per training step and per inference (median
    over ``samples``), measured stack, measured and planned peak SRAM. A configuration that cannot be built or run
    gets an ``error`` instead."""
    from toolkit.device import build_for_device

    say = progress or (lambda s: None)
    if model is None:
        model, input_shape = default_model()
    rng = np.random.default_rng(0)
    x = rng.random((max(samples, 8),) + tuple(input_shape), dtype=np.float32)
    work = Path(work or Path(tempfile.gettempdir()) / "odl-bench-device")
    records = []
    for prec in precisions:
        for simd in simd_variants:
            rec = {"board": board, "precision": prec, "update": update, "kernels": "simd" if simd else "reference"}
            t0 = time.perf_counter()
            try:
                say(f"{board} {prec} {rec['kernels']}: build")
                b = build_for_device(model, board, work / f"{board}-{prec}-{rec['kernels']}", spec=update,
                                     precision=prec, calib=x, simd=simd)
                from toolkit.emulate import to_model_input

                dt = b.program.buffers[b.program.input].dtype
                xin = to_model_input(b.graph, x[:samples], dt)
                say(f"{board} {prec} {rec['kernels']}: boot and measure")
                c = _Counter(b)
                try:
                    train_n, infer_n = [], []
                    inb = b.program.buffers[b.program.input]
                    for i in range(samples):
                        s = np.ascontiguousarray(xin[i]).tobytes()
                        if len(s) + 24 > c.link.max_payload:  # the sample goes into the input tensor first
                            c.link.write_tensor(inb.tensor_id, s)
                            s = b""
                        _, n = c.run(KERNEL_TRAIN, struct.pack("<i", i % 2) + s)
                        train_n.append(n)
                        _, n = c.run(KERNEL_INFER, s)
                        infer_n.append(n)
                    out = c.link.run_kernel(KERNEL_STACK, b"").output
                    used, size, arena = struct.unpack_from("<III", out)
                finally:
                    c.close()
                plan = b.info["plan"]
                stack_est = plan["sram_breakdown"].get("stack_estimate", 0)
                rec.update({
                    "instructions_per_train_step": int(np.median(train_n)),
                    "instructions_per_inference": int(np.median(infer_n)),
                    "stack_used_bytes": int(used), "stack_size_bytes": int(size), "arena_bytes": int(arena),
                    "planned_peak_sram_bytes": int(plan["peak_sram_bytes"]),
                    "measured_peak_sram_bytes": int(plan["peak_sram_bytes"] - stack_est + used),
                    "firmware_sram_static_bytes": int(b.info["firmware"]["sram_used"]),
                })
            except Exception as e:  # report and go on with the next configuration
                rec["error"] = f"{type(e).__name__}: {e}"[:400]
            rec["seconds"] = time.perf_counter() - t0
            records.append(rec)
    return records


def format_table(records: list[dict]) -> str:
    out = [f"{'board':<11} {'prec':<5} {'kernels':<9} {'instr/train step':>17} {'instr/infer':>12} "
           f"{'stack used':>10} {'peak SRAM meas.':>15} {'planned':>9}"]
    for r in records:
        if "error" in r:
            out.append(f"{r['board']:<11} {r['precision']:<5} {r['kernels']:<9} error: {r['error'][:80]}")
            continue
        out.append(f"{r['board']:<11} {r['precision']:<5} {r['kernels']:<9} {r['instructions_per_train_step']:>17,} "
                   f"{r['instructions_per_inference']:>12,} {r['stack_used_bytes']:>10,} "
                   f"{r['measured_peak_sram_bytes']:>15,} {r['planned_peak_sram_bytes']:>9,}")
    return "\n".join(out)


def main(argv=None) -> int:
    """``python -m toolkit.bench.device_train --board qemu-cm55 [--precision int8,fp16,fp32]``: print the table and
    save bench/results/<board>-device-train.json."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", required=True)
    ap.add_argument("--precision", default="int8,fp16,fp32")
    ap.add_argument("--update", default="full")
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--out", default=None, help="results JSON (default bench/results/<board>-device-train.json)")
    a = ap.parse_args(argv)
    recs = bench_device(a.board, tuple(a.precision.split(",")), a.update, samples=a.samples,
                        progress=lambda s: print(s, flush=True))
    print(format_table(recs))
    out = Path(a.out) if a.out else (Path(__file__).resolve().parents[2] / "bench" / "results"
                                     / f"{a.board}-device-train.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(recs, indent=1))
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
