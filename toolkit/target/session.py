"""A session with an emulated board that runs single kernels: build the firmware (cached), boot QEMU, talk over the
link, and count the instructions of each kernel call exactly.

    with TargetSession("qemu-cm55") as t:
        outputs, instructions = t.run("matmul_s8", "arm_mve", inputs, {"m": 16, "n": 16, "k": 144})

Instruction counts: on RISC-V the firmware reads ``minstret`` right around the call (exact; it includes the two
counter reads, ~10 instructions). Cortex-M has no instruction counter, so QEMU loads the insncount plugin
(tools/qemu_plugin/insncount.c) with the addresses of the firmware's ``odl_ks_mark_begin`` / ``odl_ks_mark_end``;
it counts every instruction executed between their entries and appends the count to a file the session reads
after the reply. Interrupts are masked during the call, so no handler is counted. ``plugin=True`` loads the plugin
on RISC-V too (its count is then in ``last_plugin_count``, a cross-check of minstret).
"""

from __future__ import annotations

import dataclasses
import struct
import tempfile
from pathlib import Path

import numpy as np

from toolkit.errors import OdlError
from toolkit.firmware import build_firmware, load_board
from toolkit.firmware.boards import Board
from toolkit.firmware.build import available_simd_paths
from toolkit.target import kernels as K
from toolkit.target.elf import elf_symbols

ID_RUN = 0x0D00
ID_SLOTS = 0x0D01
PATH_IDS = {"reference": 0, "host": 1, "arm_dsp": 2, "arm_mve": 3, "rvv": 4}
STATUS = {0: "ODL_OK", -1: "ODL_ERR_ARG", -2: "ODL_ERR_SHAPE", -3: "ODL_ERR_SCRATCH", -4: "ODL_ERR_UNSUPPORTED"}
MARKERS = ("odl_ks_mark_begin", "odl_ks_mark_end")


class TargetError(OdlError):
    """A kernel run on the target failed (bad arguments, unsupported path, a kernel status other than OK)."""


class TargetSession:
    """Context manager around one QEMU instance of an emulated board running the odl firmware."""

    def __init__(self, board: Board | str, *, plugin: bool | None = None, icount: bool = True,
                 timeout: float = 120.0, progress=None):
        self.board = load_board(board) if isinstance(board, str) else board
        if not self.board.qemu:
            raise OdlError(f"{self.board.name} is not an emulated board: TargetSession runs QEMU boards only")
        self.use_plugin = (self.board.arch != "riscv") if plugin is None else plugin
        self.icount = icount
        self.timeout = timeout
        self.progress = progress
        self.fw = None
        self.qemu = None
        self.link = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.counts_path: Path | None = None
        self.runs = 0
        self.last_plugin_count: int | None = None  # the plugin's count of the last call (when loaded)
        self.last_cycles = 0
        self.last_counter_exact = False

    # ---- lifetime -----------------------------------------------------------------------------------------------
    def __enter__(self) -> "TargetSession":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        from toolkit.firmware.qemu import QemuBoard
        from toolkit.link import SerialLink

        self.fw = build_firmware(self.board, progress=self.progress)
        board = self.board
        self._tmp = tempfile.TemporaryDirectory(prefix="odl-target-")
        if self.use_plugin:
            from toolkit.target.plugin import build_plugin

            syms = elf_symbols(self.fw.elf, set(MARKERS))
            missing = [m for m in MARKERS if m not in syms]
            if missing:
                raise OdlError(f"{self.fw.elf} has no {', '.join(missing)}: is firmware/kernel_service.c linked in?")
            self.counts_path = Path(self._tmp.name) / "insncount.txt"
            self.counts_path.write_text("")
            plug = (f"file={build_plugin()},start={syms[MARKERS[0]] & ~1:#x},stop={syms[MARKERS[1]] & ~1:#x},"
                    f"out={self.counts_path}")
            run = dict(board.run)
            run["args"] = [*run.get("args", []), "-plugin", plug]
            board = dataclasses.replace(board, run=run)
        self.qemu = QemuBoard(board, self.fw.elf, icount=self.icount).start()
        self.link = SerialLink(self.qemu.url, timeout=2.0)
        self.hello = self.link.hello()

    def close(self) -> None:
        if self.link is not None:
            try:
                self.link.close()
            except Exception:
                pass
            self.link = None
        if self.qemu is not None:
            self.qemu.close()
            self.qemu = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ---- what the board offers ----------------------------------------------------------------------------------
    @property
    def paths(self) -> list[str]:
        """Code paths compiled into this board's firmware: the reference and its SIMD paths."""
        return ["reference"] + [p.lower() for p in available_simd_paths(self.board)]

    # ---- running kernels ----------------------------------------------------------------------------------------
    def run(self, kernel: str, path: str, inputs: dict, params: dict | None = None):
        """Run ``kernel`` once on ``path`` with ``inputs`` (slot name -> array) and shape ``params``; return
        (outputs: slot name -> array, instructions of the kernel call). Raises TargetError on a kernel failure."""
        params = dict(params or {})
        spec = K.spec_of(kernel)
        if path not in PATH_IDS:
            raise OdlError(f"unknown code path {path!r}; choose from {', '.join(PATH_IDS)}")
        if self.link is None:
            raise OdlError("the session is not started: use `with TargetSession(board) as t:`")
        shapes = K.slot_shapes(spec, params)
        w = K.words(spec, params)
        sizes = []
        for s in spec.slots:
            sizes.append(int(np.prod(shapes[s.name])) * s.dtype.itemsize if s.name in shapes else 0)
        sizes += [0] * (K.N_SLOTS - len(sizes))
        need = sum((x + 15) & ~15 for x in sizes) + K.scratch_bytes(spec, w)
        from toolkit.link.errors import NakError

        try:
            r = self.link.run_kernel(ID_SLOTS, struct.pack("<8I", *sizes))
        except NakError as e:
            raise TargetError(f"{kernel} {params}: the slots ({sum(sizes)} bytes) do not fit the firmware's kernel "
                              f"arena ({e})") from e
        arena, left, base, nslots = struct.unpack_from("<IIBxBx", r.output)
        if K.scratch_bytes(spec, w) > left:
            raise TargetError(f"{kernel} {params}: needs {need} bytes of the kernel arena, the firmware has {arena}")
        staging = self.hello.staging_size if hasattr(self.hello, "staging_size") else None
        for i, s in enumerate(spec.slots):
            if s.role == "out" or s.name not in shapes:
                continue
            if s.name not in inputs:
                raise OdlError(f"{kernel}: missing input {s.name!r}")
            a = np.ascontiguousarray(np.asarray(inputs[s.name]))
            if a.dtype != s.dtype or a.shape != tuple(shapes[s.name]):
                raise OdlError(f"{kernel}: input {s.name!r} must be {s.dtype} {tuple(shapes[s.name])}, "
                               f"got {a.dtype} {a.shape}")
            if staging and a.nbytes > staging:
                raise TargetError(f"{kernel}: input {s.name!r} is {a.nbytes} bytes, more than the firmware's "
                                  f"{staging}-byte staging buffer; use a smaller shape")
            self.link.write_tensor(base + i, a)
        before = self.counts_path.stat().st_size if self.counts_path else 0
        r = self.link.run_kernel(ID_RUN, struct.pack("<HBx", spec.code, PATH_IDS[path]) +
                                 struct.pack(f"<{K.N_WORDS}i", *w), timeout=self.timeout)
        status, n, exact = struct.unpack_from("<iQB", r.output)
        self.runs += 1
        if status != 0:
            raise TargetError(f"{kernel} on {path} ({self.board.name}) returned {STATUS.get(status, status)}")
        self.last_plugin_count = None
        if self.counts_path is not None:
            with open(self.counts_path) as fh:
                fh.seek(before)
                lines = fh.read().split()
            if lines:
                self.last_plugin_count = int(lines[-1])
        self.last_cycles = r.cycles  # board counter around the whole handler (SysTick / mcycle)
        self.last_counter_exact = bool(exact)
        if not exact:
            if self.counts_path is None:
                raise OdlError(f"{self.board.name} has no instruction counter and the QEMU plugin is off")
            if self.last_plugin_count is None:
                raise OdlError("the QEMU insncount plugin reported no count for this call")
            n = self.last_plugin_count
        outputs = {}
        for i, s in enumerate(spec.slots):
            if s.role in ("out", "inout") and s.name in shapes:
                outputs[s.name] = self.link.read_tensor(base + i, dtype=s.dtype, shape=shapes[s.name])
        return outputs, int(n)
