"""The QEMU TCG plugin that counts instructions between two marker functions (tools/qemu_plugin/insncount.c),
compiled on demand with the host C compiler into the odl cache (rebuilt when the source changes)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from toolkit.errors import BuildError, ToolMissingError
from toolkit.firmware.boards import REPO

SOURCE = REPO / "tools" / "qemu_plugin" / "insncount.c"


def _cache_root() -> Path:
    return Path(os.environ.get("ODL_CACHE_DIR", Path.home() / ".cache" / "odl"))


def build_plugin() -> Path:
    """Path of insncount.so, compiling it first if needed."""
    src = SOURCE.read_bytes()
    tag = hashlib.sha256(src).hexdigest()[:10]
    out = _cache_root() / "qemu_plugin" / f"insncount-{tag}.so"
    if out.exists():
        return out
    cc = shutil.which("gcc") or shutil.which("cc") or shutil.which("clang-19")
    if not cc:
        raise ToolMissingError("a host C compiler (gcc) is needed to build the QEMU instruction-count plugin")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    r = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(tmp), str(SOURCE)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise BuildError(f"building the QEMU plugin failed:\n{r.stderr}")
    os.replace(tmp, out)
    return out
