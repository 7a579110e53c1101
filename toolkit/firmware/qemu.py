"""Boot a firmware ELF on an emulated board in QEMU with its UART on a local TCP socket.

    with QemuBoard(board, elf) as q:
        link = SerialLink(q.url)          # socket://127.0.0.1:PORT

QEMU listens on a free port (``-serial tcp:127.0.0.1:PORT,server=on,wait=off,nodelay=on``: without
nodelay, Nagle + delayed ACKs add ~40 ms to every reply), runs with ``-icount shift=0``
(deterministic: one instruction = 1 ns of virtual time) and a QMP socket for a warm reset (``system_reset``, RAM
kept) and a clean ``quit``. ``stop()`` always reaps the process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from toolkit.errors import OdlError, ToolMissingError
from toolkit.firmware.boards import Board, load_board


class QemuError(OdlError):
    """QEMU failed to start, or exited unexpectedly."""


def _die_with_parent() -> None:
    """In the QEMU child: get SIGTERM when the process that started it dies (even by SIGKILL), so no QEMU is left
    behind by a killed test run. Linux only; elsewhere a no-op."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_command(board: Board, elf: Path, port: int, qmp_path: str | None = None, icount: bool = True) -> list[str]:
    q = board.qemu
    if not q:
        raise OdlError(f"{board.name} is a real board, not an emulated one: "
                       f"flash it with `odl flash --board {board.name}`")
    import shutil

    exe = shutil.which(q["qemu"])
    if not exe:
        pkg = "qemu-system-misc" if "riscv" in q["qemu"] else "qemu-system-arm"
        raise ToolMissingError(f"{q['qemu']} is needed to run {board.name}; install it: apt-get install {pkg}")
    cmd = [exe, "-M", q["machine"], *q.get("args", []), "-display", "none", "-monitor", "none",
           "-serial", f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on", "-kernel", str(elf)]
    if icount:
        cmd += ["-icount", "shift=0"]
    if qmp_path:
        cmd += ["-qmp", f"unix:{qmp_path},server=on,wait=off"]
    return cmd


class QemuBoard:
    """One running QEMU instance of an emulated board."""

    def __init__(self, board: Board | str, elf: Path | str, port: int | None = None, icount: bool = True,
                 start_timeout: float = 10.0):
        self.board = load_board(board) if isinstance(board, str) else board
        self.elf = Path(elf)
        self.want_port = port
        self.icount = icount
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="odl-qemu-")
        self.qmp_path = os.path.join(self._tmp.name, "qmp.sock")
        self.log_path = Path(self._tmp.name) / "qemu.log"

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> "QemuBoard":
        if not self.elf.exists():
            raise QemuError(f"no firmware at {self.elf}: build it with `odl firmware build --board {self.board.name}`")
        last = ""
        for _ in range(5):
            port = self.want_port or free_port()
            if os.path.exists(self.qmp_path):
                os.unlink(self.qmp_path)
            cmd = qemu_command(self.board, self.elf, port, self.qmp_path, self.icount)
            log = open(self.log_path, "w")
            # PDEATHSIG fires when the starting *thread* exits: only tie QEMU to the main thread.
            tie = _die_with_parent if threading.current_thread() is threading.main_thread() else None
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=tie)
            log.close()
            self.port = port
            if self._wait_listening():
                return self
            last = self.log()
            self._reap()
            if "in use" not in last or self.want_port:
                break
        raise QemuError(f"QEMU did not start for {self.board.name}: {last.strip() or 'no output'}")

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if os.path.exists(self.qmp_path):
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        pass
                    return True
                except OSError:
                    pass
            time.sleep(0.05)
        return False

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ---- QMP ---------------------------------------------------------------------------------------------------
    def qmp(self, command: str, **arguments) -> dict:
        """Run one QMP command and return its reply."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5.0)
        try:
            s.connect(self.qmp_path)
            f = s.makefile("rwb")
            json.loads(f.readline())  # greeting
            request = {"execute": command, **({"arguments": arguments} if arguments else {})}
            for msg in ({"execute": "qmp_capabilities"}, request):
                f.write(json.dumps(msg).encode() + b"\n")
                f.flush()
                while True:
                    line = f.readline()
                    if not line:
                        return {}
                    reply = json.loads(line)
                    if "return" in reply or "error" in reply:
                        break
            if "error" in reply:
                raise QemuError(f"QMP {command} failed: {reply['error']}")
            return reply
        except OSError as e:
            raise QemuError(f"QMP {command} failed: {e}") from e
        finally:
            s.close()

    def system_reset(self) -> None:
        """A warm reset of the board, like its reset button: the CPU restarts, RAM keeps its contents."""
        self.qmp("system_reset")

    # ---- shutdown ----------------------------------------------------------------------------------------------
    def _reap(self, timeout: float = 3.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.qmp("quit")
                self.proc.wait(3.0)
            except (QemuError, subprocess.TimeoutExpired):
                pass
        self._reap()

    def restart(self) -> "QemuBoard":
        """Kill QEMU and boot the board again on the same port (a power cycle: RAM is lost)."""
        self.want_port = self.port
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> "QemuBoard":
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self._reap(1.0)
        except Exception:
            pass
